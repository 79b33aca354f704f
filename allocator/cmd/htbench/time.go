package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// timeCmd is "htbench time OUT TIMEFILE CAP CMD ARGS...": it runs CMD with
// stdout and stderr to OUT, stops it after CAP seconds of wall-clock time
// (0: never), and writes "CPU MAXRSS_KB RC" to TIMEFILE: the CPU seconds
// (user+sys, microseconds, from wait4) of the whole process, its peak
// memory, and its exit status (124 when stopped by CAP, as timeout(1)).
// /usr/bin/time prints CPU time in hundredths of a second, too coarse for
// processes that take a few milliseconds.
func timeCmd(args []string) error {
	if len(args) < 4 {
		return fmt.Errorf("usage: htbench time OUT TIMEFILE CAP CMD [ARGS...]")
	}
	capSec, err := strconv.ParseFloat(args[2], 64)
	if err != nil {
		return fmt.Errorf("cap: %w", err)
	}
	out, err := os.Create(args[0])
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(args[3], args[4:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	stopped := false
	if capSec > 0 {
		t := time.AfterFunc(time.Duration(capSec*float64(time.Second)), func() {
			stopped = true
			_ = cmd.Process.Kill()
		})
		defer t.Stop()
	}
	werr := cmd.Wait()
	rc := 0
	var exit *exec.ExitError
	switch {
	case stopped:
		rc = 124
	case errors.As(werr, &exit):
		rc = exit.ExitCode()
	case werr != nil:
		return werr
	}
	ps := cmd.ProcessState
	cpu := (ps.UserTime() + ps.SystemTime()).Seconds()
	var rss int64
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	return os.WriteFile(args[1], fmt.Appendf(nil, "%.6f %d %d\n", cpu, rss, rc), 0o644)
}
