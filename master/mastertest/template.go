package mastertest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
)

// TinyRootfs is a gzip tarball that the template store accepts as a root
// filesystem: enough for instances on the fake hypervisor.
func TinyRootfs(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct{ name, body string }{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
		{"etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n"},
		{"bin/sh", "#!fake shell\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
