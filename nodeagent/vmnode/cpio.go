package vmnode

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// archive is a "newc" cpio archive (the initramfs format) built in memory.
type archive struct {
	buf  bytes.Buffer
	ino  int
	dirs map[string]bool
}

func newArchive() *archive { return &archive{dirs: map[string]bool{".": true, "/": true}} }

func (a *archive) header(name string, mode uint32, size int) {
	a.ino++
	fmt.Fprintf(&a.buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		a.ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	a.buf.WriteString(name)
	a.buf.WriteByte(0)
	a.pad()
}

func (a *archive) pad() {
	for a.buf.Len()%4 != 0 {
		a.buf.WriteByte(0)
	}
}

// dir adds a directory and its parents.
func (a *archive) dir(p string) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	if p == "" || a.dirs[p] {
		return
	}
	a.dir(path.Dir(p))
	a.dirs[p] = true
	a.header(p, 0o040755, 0)
}

// file adds a regular file (parents made as needed).
func (a *archive) file(p string, mode uint32, data []byte) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	a.dir(path.Dir(p))
	a.header(p, 0o100000|mode, len(data))
	a.buf.Write(data)
	a.pad()
}

// symlink adds p pointing at target.
func (a *archive) symlink(p, target string) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	a.dir(path.Dir(p))
	a.header(p, 0o120777, len(target))
	a.buf.WriteString(target)
	a.pad()
}

// bytes ends the archive and returns it.
func (a *archive) bytes() []byte {
	a.header("TRAILER!!!", 0, 0)
	for a.buf.Len()%512 != 0 {
		a.buf.WriteByte(0)
	}
	return a.buf.Bytes()
}
