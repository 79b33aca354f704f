package templates

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Compression names recorded in a manifest.
const (
	CompressionZstd = "zstd"
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Manifest describes one template artifact: a compressed tarball of a root
// filesystem. It is stored as JSON beside the blob and served to agents.
type Manifest struct {
	// Name of the template (a DNS-label-like word, e.g. "bookworm-base").
	Name string `json:"name"`
	// Version is monotonic per name, assigned by the Store (0 before storing).
	Version int `json:"version"`
	// SHA256 is the hex sha256 of the tarball as stored (compressed bytes).
	SHA256 string `json:"sha256"`
	// Size of the tarball in bytes.
	Size int64 `json:"size"`
	// UnpackedSize is the sum of the regular files' sizes in the tarball.
	UnpackedSize int64 `json:"unpacked_size"`
	// Files is the number of tar entries.
	Files int `json:"files"`
	// Compression of the tarball: zstd, gzip or none.
	Compression string `json:"compression"`
	// Suite, Variant, Includes, Mirror, Arch: how it was bootstrapped (empty for imports
	// where unknown; Suite is then read from /etc/os-release VERSION_CODENAME).
	Suite    string   `json:"suite,omitempty"`
	Variant  string   `json:"variant,omitempty"`
	Includes []string `json:"includes,omitempty"`
	Mirror   string   `json:"mirror,omitempty"`
	Arch     string   `json:"arch,omitempty"`
	// Packages installed in the root filesystem (from var/lib/dpkg/status).
	Packages []Package `json:"packages,omitempty"`
	// BuildDate is when the tarball was made (or imported).
	BuildDate time.Time `json:"build_date"`
	// Tool that made it: mmdebstrap, debootstrap or import.
	Tool string `json:"tool"`
	// Kernel is the path (no leading slash) of the newest boot/vmlinuz-* in the
	// root filesystem, empty if the template has no kernel; Initrd likewise.
	Kernel string `json:"kernel,omitempty"`
	Initrd string `json:"initrd,omitempty"`
	// CloudInit is true when usr/bin/cloud-init exists in the root filesystem.
	CloudInit bool `json:"cloud_init"`
	// Network tells which network configuration the template can use:
	// "networkd" (systemd-networkd), "ifupdown" or "" (none found).
	Network string `json:"network,omitempty"`
}

// Digest is the manifest's content address, "sha256:<hex>".
func (m Manifest) Digest() string { return "sha256:" + m.SHA256 }

// Ref is "name@version".
func (m Manifest) Ref() string { return fmt.Sprintf("%s@%d", m.Name, m.Version) }

// Package is one installed Debian package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
}

// Artifact is a tarball on disk and its manifest.
type Artifact struct {
	Path     string
	Manifest Manifest
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62})$`)

// ValidName reports whether s can name a template.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ParseRef splits "name" or "name@version"; version 0 means latest.
func ParseRef(ref string) (name string, version int, err error) {
	name, v, ok := strings.Cut(ref, "@")
	if !ValidName(name) {
		return "", 0, fmt.Errorf("template ref %q: bad name: %w", ref, ErrInvalid)
	}
	if !ok {
		return name, 0, nil
	}
	version, err = strconv.Atoi(v)
	if err != nil || version <= 0 {
		return "", 0, fmt.Errorf("template ref %q: bad version: %w", ref, ErrInvalid)
	}
	return name, version, nil
}

// ParseDigest accepts "sha256:<hex>" or "<hex>" and returns the hex part.
func ParseDigest(d string) (string, error) {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) != 64 {
		return "", fmt.Errorf("digest %q: %w", d, ErrInvalid)
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Errorf("digest %q: %w", d, ErrInvalid)
		}
	}
	return h, nil
}

// parseDpkgStatus reads var/lib/dpkg/status and returns the installed packages
// sorted by name.
func parseDpkgStatus(r io.Reader) ([]Package, error) {
	var (
		pkgs   []Package
		cur    Package
		status string
	)
	flush := func() {
		if cur.Name != "" && strings.HasSuffix(status, " installed") {
			pkgs = append(pkgs, cur)
		}
		cur, status = Package{}, ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.Name = v
		case "Version":
			cur.Version = v
		case "Architecture":
			cur.Arch = v
		case "Status":
			status = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse dpkg status: %w", err)
	}
	flush()
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	return pkgs, nil
}

// osReleaseCodename returns VERSION_CODENAME from an os-release file.
func osReleaseCodename(b []byte) string {
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VERSION_CODENAME=")); ok {
			return strings.Trim(string(v), `"'`)
		}
	}
	return ""
}

// rootfsFacts accumulates what a root filesystem contains, fed one path
// (relative, no leading "./" or "/") at a time, from a directory walk or a tar
// scan.
type rootfsFacts struct {
	kernels, initrds []string
	cloudInit        bool
	networkd         bool
	ifupdown         bool
	hasEtc, hasShell bool
}

func (f *rootfsFacts) add(p string) {
	switch {
	case strings.HasPrefix(p, "boot/vmlinuz-"):
		f.kernels = append(f.kernels, p)
	case strings.HasPrefix(p, "boot/initrd.img-"):
		f.initrds = append(f.initrds, p)
	}
	switch p {
	case "usr/bin/cloud-init":
		f.cloudInit = true
	case "lib/systemd/systemd-networkd", "usr/lib/systemd/systemd-networkd":
		f.networkd = true
	case "sbin/ifup", "usr/sbin/ifup":
		f.ifupdown = true
	case "etc", "etc/passwd":
		f.hasEtc = true
	case "bin/sh", "usr/bin/sh":
		f.hasShell = true
	}
}

// apply copies the facts into m. The newest kernel (by version sort) wins and
// the initrd is the one of the same version.
func (f *rootfsFacts) apply(m *Manifest) {
	m.Kernel, m.Initrd = "", ""
	if len(f.kernels) > 0 {
		sort.Slice(f.kernels, func(i, j int) bool {
			return versionLess(f.kernels[i], f.kernels[j])
		})
		m.Kernel = f.kernels[len(f.kernels)-1]
		ver := strings.TrimPrefix(path.Base(m.Kernel), "vmlinuz-")
		for _, i := range f.initrds {
			if i == "boot/initrd.img-"+ver {
				m.Initrd = i
			}
		}
	}
	m.CloudInit = f.cloudInit
	switch {
	case f.networkd:
		m.Network = "networkd"
	case f.ifupdown:
		m.Network = "ifupdown"
	default:
		m.Network = ""
	}
}

// versionLess compares strings with embedded numbers numerically
// ("6.1.0-9" < "6.1.0-10").
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.Atoi(da)
			nb, _ := strconv.Atoi(db)
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
