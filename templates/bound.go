package templates

import (
	"fmt"
	"io"
)

// Bounds on how much a template may unpack to. They are checked while the
// tar stream is read, so a small tarball that unpacks to gigabytes (a
// "bomb") is refused after at most the bound was read, before it fills a
// disk. A real Debian root filesystem compresses 3-4x with zstd or gzip.
const (
	// MaxUnpackedSize is the largest tar stream any template may unpack to.
	MaxUnpackedSize = 64 << 30
	// MaxCompressionRatio bounds the unpacked size by the compressed size:
	// a tarball of N bytes may unpack to N*MaxCompressionRatio plus
	// unpackSlack bytes.
	MaxCompressionRatio = 40
	// unpackSlack lets small test tarballs (and tar's padding) through.
	unpackSlack = 64 << 20
	// tarEntryOverhead is the most tar stream bytes an entry costs beyond
	// its content: header, PAX header for xattrs or long names, padding.
	tarEntryOverhead = 8 << 10
)

// UnpackLimit is the most tar stream bytes a tarball of compressed bytes may
// unpack to.
func UnpackLimit(compressed int64) int64 {
	if compressed < 0 {
		compressed = 0
	}
	if compressed > (MaxUnpackedSize-unpackSlack)/MaxCompressionRatio {
		return MaxUnpackedSize
	}
	return compressed*MaxCompressionRatio + unpackSlack
}

// streamBound is the most tar stream bytes the tarball a manifest describes
// may hold (0 when the manifest does not say: unknown).
func (m Manifest) streamBound() int64 {
	if m.UnpackedSize <= 0 || m.Files <= 0 {
		return 0
	}
	return m.UnpackedSize + int64(m.Files)*tarEntryOverhead + 1<<20
}

// unpackLimit is the bound for unpacking a blob of size compressed that the
// manifest m describes: the compression-ratio bound, tightened by what the
// manifest declares.
func unpackLimit(m Manifest, compressed int64) int64 {
	limit := UnpackLimit(compressed)
	if b := m.streamBound(); b > 0 {
		limit = min(limit, b)
	}
	return limit
}

// boundedReader fails with ErrTooLarge once more than limit bytes were read
// through it.
type boundedReader struct {
	r        io.Reader
	n, limit int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.exceeded() {
		return 0, b.err()
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.exceeded() {
		return n, b.err()
	}
	return n, err
}

func (b *boundedReader) exceeded() bool { return b.n > b.limit }

func (b *boundedReader) err() error {
	return fmt.Errorf("template unpacks to more than %d MiB (the bound for its size): %w", b.limit>>20, ErrTooLarge)
}
