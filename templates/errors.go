package templates

import (
	"errors"
	"fmt"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrNotFound: no template (or blob) with that name, version or digest.
	ErrNotFound = errors.New("templates: not found")
	// ErrExists: the target (disk, directory, name@version) already exists.
	ErrExists = errors.New("templates: already exists")
	// ErrChecksum: content does not match its sha256 digest.
	ErrChecksum = errors.New("templates: checksum mismatch")
	// ErrNotRootfs: a tarball that is not a tar of a root filesystem.
	ErrNotRootfs = errors.New("templates: not a root filesystem tarball")
	// ErrInvalid: bad options or a malformed reference.
	ErrInvalid = errors.New("templates: invalid argument")
	// ErrToolMissing: a required host tool (mmdebstrap, tar, zstd, mkfs.ext4) is absent.
	ErrToolMissing = errors.New("templates: required tool missing")
	// ErrTooLarge: a tarball that unpacks to more than its bound (see
	// UnpackLimit); it is also ErrInvalid (the caller's input is wrong).
	ErrTooLarge = fmt.Errorf("templates: unpacked size over the bound: %w", ErrInvalid)
)
