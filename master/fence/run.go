package fence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/drover-project/drover/api"
)

// Power is a device's power state as its agent's status reports it.
type Power string

// Power states.
const (
	PowerOn      Power = "on"
	PowerOff     Power = "off"
	PowerUnknown Power = "unknown"
)

// Errors of a fence action.
var (
	// ErrAgent means the agent failed (exit 1, timeout, not found).
	ErrAgent = errors.New("fence: agent failed")
	// ErrNotConfirmed means the agent said it acted but status disagrees.
	ErrNotConfirmed = errors.New("fence: power state not confirmed")
)

// Result is the outcome of one fence action (with its retries); it is what
// drover records and shows, so its error and output are scrubbed of
// secrets (the last attempt's).
type Result = api.FenceResult

// Runner runs fence agents. The zero value uses the defaults.
type Runner struct {
	// Timeout bounds one call of the agent (default 60 s, Pacemaker's
	// pcmk_off_timeout). A timeout is a failure, never a success.
	Timeout time.Duration
	// Attempts is how often off and on are tried (default 3).
	Attempts int
	// RetryDelay is the pause between attempts (default 1 s).
	RetryDelay time.Duration
	// Dirs are searched for the agent before PATH (default /usr/sbin,
	// /sbin: a non-root PATH often lacks them).
	Dirs []string
	Log  *slog.Logger
}

func (r *Runner) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 60 * time.Second
}

func (r *Runner) attempts() int {
	if r.Attempts > 0 {
		return r.Attempts
	}
	return 3
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// find locates the agent's executable.
func (r *Runner) find(agent string) (string, error) {
	dirs := r.Dirs
	if dirs == nil {
		dirs = []string{"/usr/sbin", "/sbin"}
	}
	for _, d := range dirs {
		p := filepath.Join(d, agent)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(agent)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found (Debian package fence-agents)", ErrAgent, agent)
	}
	return p, nil
}

// call runs the agent once with action and returns its exit code and
// (scrubbed) output; err is set when it could not run or timed out.
func (r *Runner) call(ctx context.Context, d Device, action string) (int, string, error) {
	if err := d.Validate(); err != nil {
		return -1, "", err
	}
	path, err := r.find(d.Agent)
	if err != nil {
		return -1, "", err
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	cmd := exec.CommandContext(cctx, path)
	cmd.Stdin = strings.NewReader(d.stdin(action))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group: a timeout kills the agent's children
	// (ipmitool) too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	text := d.Scrub(cleanOutput(out.String()))
	if cctx.Err() != nil {
		return -1, text, fmt.Errorf("%w: %s %s timed out after %v", ErrAgent, d.Agent, action, r.timeout())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), text, nil
	}
	if err != nil {
		return -1, text, fmt.Errorf("%w: run %s: %w", ErrAgent, d.Agent, err)
	}
	return 0, text, nil
}

// cleanOutput drops Python's deprecation chatter that fence-agents print
// on Debian 12 and keeps the rest short.
func cleanOutput(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "DeprecationWarning") || strings.Contains(l, "from pipes import") {
			continue
		}
		keep = append(keep, l)
	}
	s = strings.Join(keep, "; ")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// Status asks the device for the power state: exit 0 on, 2 off, else an
// error (device unreachable).
func (r *Runner) Status(ctx context.Context, d Device) (Result, error) {
	t0 := time.Now()
	res := Result{Action: "status", Attempts: 1, At: t0.UTC(), Power: string(PowerUnknown)}
	p, out, err := r.status(ctx, d)
	res.Power, res.Output, res.Duration = string(p), out, time.Since(t0)
	if err != nil {
		res.Error = d.Scrub(err.Error())
		return res, err
	}
	res.OK = true
	return res, nil
}

func (r *Runner) status(ctx context.Context, d Device) (Power, string, error) {
	code, out, err := r.call(ctx, d, "status")
	switch {
	case err != nil:
		return PowerUnknown, out, err
	case code == 0:
		return PowerOn, out, nil
	case code == 2:
		return PowerOff, out, nil
	}
	return PowerUnknown, out, fmt.Errorf("%w: %s status exited %d: %s", ErrAgent, d.Agent, code, out)
}

// Off powers the device off and confirms with status; it retries.
func (r *Runner) Off(ctx context.Context, d Device) (Result, error) {
	return r.power(ctx, d, "off", PowerOff)
}

// On powers the device on and confirms with status; it retries.
func (r *Runner) On(ctx context.Context, d Device) (Result, error) {
	return r.power(ctx, d, "on", PowerOn)
}

func (r *Runner) power(ctx context.Context, d Device, action string, want Power) (Result, error) {
	t0 := time.Now()
	res := Result{Action: action, At: t0.UTC(), Power: string(PowerUnknown)}
	var err error
	for res.Attempts < r.attempts() {
		if res.Attempts > 0 {
			delay := r.RetryDelay
			if delay == 0 {
				delay = time.Second
			}
			select {
			case <-ctx.Done():
				err = errors.Join(err, ctx.Err())
				res.Duration, res.Error = time.Since(t0), d.Scrub(err.Error())
				return res, err
			case <-time.After(delay):
			}
		}
		res.Attempts++
		err = r.once(ctx, d, action, want, &res)
		r.log().Info("fence_attempt", "agent", d.Agent, "action", action, "attempt", res.Attempts,
			"power", res.Power, "ok", err == nil, "error", errString(d, err))
		if err == nil {
			res.OK, res.Error, res.Duration = true, "", time.Since(t0)
			return res, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	res.Duration, res.Error = time.Since(t0), d.Scrub(err.Error())
	return res, err
}

// once is one attempt: the action, then status must show want.
func (r *Runner) once(ctx context.Context, d Device, action string, want Power, res *Result) error {
	code, out, err := r.call(ctx, d, action)
	res.Output = out
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%w: %s %s exited %d: %s", ErrAgent, d.Agent, action, code, out)
	}
	p, sout, err := r.status(ctx, d)
	res.Power = string(p)
	if err != nil {
		return err
	}
	if p != want {
		return fmt.Errorf("%w: after %s the device reports power %s: %s", ErrNotConfirmed, action, p, sout)
	}
	return nil
}

func errString(d Device, err error) string {
	if err == nil {
		return ""
	}
	return d.Scrub(err.Error())
}
