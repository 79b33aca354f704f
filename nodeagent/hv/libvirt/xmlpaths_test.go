package libvirt

import (
	"strings"
	"testing"
)

func TestReplacePaths(t *testing.T) {
	doc := `<domain><os><kernel>/a/boot/vmlinuz</kernel></os><devices>` +
		`<disk><source file='/a/disk1'/></disk><disk><source file='/a/disk10'/></disk>` +
		`<serial type='file'><source path="/a/console.log"/></serial></devices></domain>`
	out, err := replacePaths(doc, map[string]string{
		"/a/disk1": "/b/disk1", "/a/disk10": "/b/disk10", "/a/console.log": "/b/console.log", "/a/boot/vmlinuz": "/b/boot/vmlinuz"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<kernel>/b/boot/vmlinuz</kernel>", "file='/b/disk1'", "file='/b/disk10'", `path="/b/console.log"`} {
		if !strings.Contains(out, want) {
			t.Errorf("%s not in %s", want, out)
		}
	}
	if strings.Contains(out, "/a/") {
		t.Errorf("old path left: %s", out)
	}
	if _, err := replacePaths(doc, map[string]string{"/a/disk": "/b/disk"}); err == nil {
		t.Error("a path that is only a prefix of the domain's paths was replaced")
	}
	if out, err := replacePaths(doc, map[string]string{"/a/disk1": "/a/disk1"}); err != nil || out != doc {
		t.Errorf("same path: %v", err)
	}
}
