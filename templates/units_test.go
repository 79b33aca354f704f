package templates

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-project/drover/realtest"
)

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in      string
		name    string
		version int
		ok      bool
	}{
		{"bookworm", "bookworm", 0, true},
		{"bookworm@3", "bookworm", 3, true},
		{"bookworm@0", "", 0, false},
		{"bookworm@x", "", 0, false},
		{"Bad", "", 0, false},
		{"../x", "", 0, false},
		{"", "", 0, false},
	} {
		name, v, err := ParseRef(tc.in)
		if tc.ok != (err == nil) || name != tc.name || v != tc.version {
			t.Errorf("ParseRef(%q) = %q, %d, %v", tc.in, name, v, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRef(%q): error %v is not ErrInvalid", tc.in, err)
		}
	}
}

func TestParseDigest(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for in, ok := range map[string]bool{h: true, "sha256:" + h: true, "sha256:" + h[:63]: false, strings.Repeat("AB", 32): false, "md5:" + h: false} {
		got, err := ParseDigest(in)
		if ok != (err == nil) || (ok && got != h) {
			t.Errorf("ParseDigest(%q) = %q, %v", in, got, err)
		}
	}
}

func TestVersionLess(t *testing.T) {
	for _, tc := range [][2]string{
		{"boot/vmlinuz-6.1.0-9-amd64", "boot/vmlinuz-6.1.0-10-amd64"},
		{"boot/vmlinuz-5.10.0-1-amd64", "boot/vmlinuz-6.1.0-1-amd64"},
		{"a", "b"}, {"1", "1a"},
	} {
		if !versionLess(tc[0], tc[1]) || versionLess(tc[1], tc[0]) {
			t.Errorf("versionLess(%q, %q) wrong", tc[0], tc[1])
		}
	}
}

func TestParseDpkgStatus(t *testing.T) {
	pkgs, err := parseDpkgStatus(strings.NewReader(testDpkgStatus))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0] != (Package{"base-files", "12.4+deb12u15", "amd64"}) || pkgs[1].Name != "busybox-static" {
		t.Fatalf("packages = %+v", pkgs)
	}
}

func TestDefaultMirror(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The deb822 file of these machines, comment line inside the stanza.
	deb822 := `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`
	list := "deb [arch=amd64] https://packages.example/apt cloud-sdk-bookworm main\n"
	if err := os.WriteFile(filepath.Join(dir, "sources.list.d", "debian.sources"), []byte(deb822), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sources.list.d", "other.list"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := defaultMirror(dir, "bookworm"); got != "http://mirror.example/debian" {
		t.Errorf("bookworm mirror = %q", got)
	}
	if got := defaultMirror(dir, "trixie"); got != FallbackMirror {
		t.Errorf("trixie mirror = %q, want fallback", got)
	}
	if got := defaultMirror(t.TempDir(), "bookworm"); got != FallbackMirror {
		t.Errorf("empty dir mirror = %q", got)
	}
}

func TestResolveInStaysInRoot(t *testing.T) {
	root := t.TempDir()
	for _, l := range [][2]string{{"etc", "/real-etc"}, {"abs", "/"}, {"up", "../../.."}, {"loop", "loop"}} {
		if err := os.Symlink(l[1], filepath.Join(root, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	for in, want := range map[string]string{
		"etc/hosts":        "real-etc/hosts",
		"abs/etc/passwd":   "real-etc/passwd", // abs -> /, then etc -> /real-etc
		"up/x":             "x",
		"../../etc/shadow": "real-etc/shadow", // .. at the root stays at the root
		"etc":              "etc",             // last component not followed
	} {
		got, err := resolveIn(root, in)
		if err != nil {
			t.Fatalf("resolveIn(%q): %v", in, err)
		}
		if got != filepath.Join(root, want) {
			t.Errorf("resolveIn(%q) = %q, want %q", in, got, filepath.Join(root, want))
		}
	}
	if _, err := resolveIn(root, "loop/x"); err == nil {
		t.Error("symlink loop not detected")
	}
	// Writing through an absolute symlink lands inside root.
	if err := dirTree(root).writeFile("abs/tmp/f", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp/f")); err != nil {
		t.Errorf("file not written inside root: %v", err)
	}
}

func TestBootstrapParsers(t *testing.T) {
	mm := &mmdebstrapParser{}
	var last Progress
	for _, l := range []string{
		"I: running apt-get update...",
		"0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.",
		"I: downloading packages with apt...",
		"I: installing essential packages...",
		"Setting up libc6:amd64 (2.36-9) ...",
		"0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.",
		"Setting up bash (5.2) ...",
		"Get:1 http://deb.debian.org/debian bookworm/main amd64 bash",
		"I: cleaning package lists and apt cache...",
	} {
		if p, ok := mm.line(l); ok {
			if p.Percent < last.Percent {
				t.Errorf("mmdebstrap progress went back: %v after %v", p, last)
			}
			last = p
		}
	}
	if last.Percent != 97 || mm.total != 2 || mm.done != 1 {
		t.Errorf("mmdebstrap: last %+v total %d done %d", last, mm.total, mm.done)
	}
	db := &debootstrapParser{}
	var msgs []string
	last = Progress{}
	for _, l := range []string{
		"P: 0 100 DOWNREL", "I: RETRIEVING", "IA: libc6", "IF: Retrieving %s",
		"P: 50 100 DOWNDEBS", "P: 3 10 UNPACKBASE", "P: 10 10 CONFBASE",
	} {
		if p, ok := db.line(l); ok {
			msgs = append(msgs, p.Message)
			last = p
		}
	}
	if last.Percent != 99 || !strings.Contains(strings.Join(msgs, "|"), "Retrieving libc6") {
		t.Errorf("debootstrap: last %+v, messages %q", last, msgs)
	}
}

func TestUnmountUnder(t *testing.T) {
	requireRoot(t, "mount")
	dir := t.TempDir()
	for _, d := range []string{"a", "a/b"} {
		p := filepath.Join(dir, d)
		os.MkdirAll(p, 0o755)
		if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", p).CombinedOutput(); err != nil {
			realtest.Need(t, "cannot mount tmpfs here: %v %s", err, out)
		}
	}
	os.WriteFile(filepath.Join(dir, "a/b/f"), []byte("x"), 0o644)
	if err := unmountUnder(dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b), dir+"/") {
		t.Fatalf("still mounted under %s", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "a/b/f")); err == nil {
		t.Error("file of the unmounted tmpfs still visible")
	}
}
