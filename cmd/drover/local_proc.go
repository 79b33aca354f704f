package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procSpec is one process of a local cluster, recorded in DIR/run/NAME.json so
// that `drover local start NAME` can start it again after a crash or a kill.
type procSpec struct {
	Name string   `json:"name"`
	Kind string   `json:"kind"` // master, agent or vm
	Args []string `json:"args"`
	// Exe runs this program instead of drover itself (vm: ip netns exec ... qemu).
	Exe string `json:"exe,omitempty"`
}

type localDir string

func (d localDir) run(p string) string     { return filepath.Join(string(d), "run", p) }
func (d localDir) pidFile(n string) string { return d.run(n + ".pid") }
func (d localDir) specFile(n string) string {
	return d.run(n + ".json")
}
func (d localDir) logFile(n string) string { return filepath.Join(string(d), "log", n+".log") }
func (d localDir) supervisorPid() string   { return d.run("local.pid") }

func (d localDir) saveSpec(s procSpec) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(d.specFile(s.Name), b, 0o644)
}

func (d localDir) loadSpec(name string) (procSpec, error) {
	var s procSpec
	b, err := os.ReadFile(d.specFile(name))
	if err != nil {
		return s, fmt.Errorf("no process %q in %s: %w", name, d, err)
	}
	return s, json.Unmarshal(b, &s)
}

// specs lists the recorded processes: agents first, then node guests, then masters.
func (d localDir) specs() ([]procSpec, error) {
	m, err := filepath.Glob(d.run("*.json"))
	if err != nil {
		return nil, err
	}
	var out []procSpec
	for _, f := range m {
		s, err := d.loadSpec(strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	rank := map[string]int{"agent": 0, "vm": 1}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			ri, ok := rank[out[i].Kind]
			if !ok {
				ri = 2
			}
			rj, ok := rank[out[j].Kind]
			if !ok {
				rj = 2
			}
			return ri < rj
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// start launches the process in its own session (so a terminal's Ctrl-C reaches
// only the supervisor, which then stops everything in order) and records its pid.
func (d localDir) start(self string, s procSpec) (*exec.Cmd, error) {
	if pid, ok := d.alive(s.Name); ok {
		return nil, fmt.Errorf("%s is already running (pid %d)", s.Name, pid)
	}
	lf, err := os.OpenFile(d.logFile(s.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	exe := self
	if s.Exe != "" {
		exe = s.Exe
	}
	cmd := exec.Command(exe, s.Args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	if err := os.WriteFile(d.pidFile(s.Name), fmt.Appendf(nil, "%d\n", cmd.Process.Pid), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	return cmd, nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid file %s", path)
	}
	return pid, nil
}

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the ")" that closes the command name
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

func (d localDir) alive(name string) (int, bool) {
	pid, err := readPid(d.pidFile(name))
	if err != nil {
		return 0, false
	}
	return pid, processAlive(pid)
}

// stop sends SIGTERM, waits up to grace, then SIGKILL; removes the pid file.
func (d localDir) stop(name string, grace time.Duration) {
	pid, ok := d.alive(name)
	if ok {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(grace)
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for i := 0; i < 40 && processAlive(pid); i++ {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	_ = os.Remove(d.pidFile(name))
}

// stopAll stops agents first, then masters.
func (d localDir) stopAll(grace time.Duration) error {
	specs, err := d.specs()
	if err != nil {
		return err
	}
	for _, s := range specs {
		d.stop(s.Name, grace)
	}
	return nil
}
