package hvtest

import (
	"bytes"
	"fmt"
)

// cpioWriter writes a "newc" cpio archive, the initramfs format, so the
// tests need no cpio binary.
type cpioWriter struct {
	buf bytes.Buffer
	ino int
}

func (w *cpioWriter) entry(name string, mode uint32, major, minor int, data []byte) {
	w.ino++
	fmt.Fprintf(&w.buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		w.ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(name)+1, 0)
	w.buf.WriteString(name)
	w.buf.WriteByte(0)
	w.pad()
	w.buf.Write(data)
	w.pad()
}

func (w *cpioWriter) pad() {
	for w.buf.Len()%4 != 0 {
		w.buf.WriteByte(0)
	}
}

func (w *cpioWriter) dir(name string) { w.entry(name, 0o040755, 0, 0, nil) }
func (w *cpioWriter) file(name string, perm uint32, data []byte) {
	w.entry(name, 0o100000|perm, 0, 0, data)
}
func (w *cpioWriter) symlink(name, target string) { w.entry(name, 0o120777, 0, 0, []byte(target)) }
func (w *cpioWriter) chardev(name string, major, minor int) {
	w.entry(name, 0o020600, major, minor, nil)
}

func (w *cpioWriter) bytes() []byte {
	w.entry("TRAILER!!!", 0, 0, 0, nil)
	return w.buf.Bytes()
}
