package nodeagent

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchdog is an open watchdog device (softdog or hardware): once opened it
// resets the node unless written to within its timeout. Closing it after
// the magic character 'V' disarms it; a process that dies without doing so
// leaves it armed, so a crashed agent also ends in a reset.
type watchdog struct {
	path    string
	f       *os.File
	timeout time.Duration // as the driver accepted it; 0 if it refused to say
}

// wdiocSetTimeout is WDIOC_SETTIMEOUT (_IOWR('W', 6, int)).
const wdiocSetTimeout = 0xC0045706

func openWatchdog(path string, timeout time.Duration) (*watchdog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("watchdog %s: %w", path, err)
	}
	w := &watchdog{path: path, f: f}
	secs := int32(timeout / time.Second)
	// A device that is not a watchdog (a test's file) refuses the ioctl: it
	// then keeps its own timeout, reported as unknown.
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), wdiocSetTimeout, uintptr(unsafe.Pointer(&secs))); e == 0 {
		w.timeout = time.Duration(secs) * time.Second
	}
	if err := w.pet(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return w, nil
}

// pet restarts the watchdog's countdown.
func (w *watchdog) pet() error {
	if _, err := w.f.Write([]byte{0}); err != nil {
		return fmt.Errorf("watchdog %s: pet: %w", w.path, err)
	}
	return nil
}

// disarm writes the magic close character and closes the device.
func (w *watchdog) disarm() error {
	_, werr := w.f.Write([]byte("V"))
	return errors.Join(werr, w.f.Close())
}
