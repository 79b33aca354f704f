package main

// Stand-ins for the two commands of docs/install.md that the test's hosts
// lack (no systemd inside a namespace, no sshd between them), named as
// such: `systemctl` starts a unit exactly as its [Service] says (the
// EnvironmentFile, the ExecStart line expanded as systemd does, UMask)
// and `ssh HOST CMD` runs CMD on that host (rsync and scp use it). Both
// are the test binary itself, re-run by small scripts in the PATH of the
// hosts' shells (init below dispatches before the tests start).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	envStandin      = "DROVER_INSTALLDOC_STANDIN"
	envStandinState = "DROVER_INSTALLDOC_STATE"
	envStandinHost  = "DROVER_INSTALLDOC_HOST"
)

func init() {
	switch os.Getenv(envStandin) {
	case "systemctl":
		os.Exit(standinSystemctl(os.Args[1:]))
	case "ssh":
		os.Exit(standinSSH(os.Args[1:]))
	}
}

// writeStandins puts the systemctl and ssh scripts into dir.
func writeStandins(t *testing.T, dir string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"systemctl", "ssh"} {
		script := fmt.Sprintf("#!/bin/sh\n# test stand-in (cmd/drover/installdoc_standin_test.go)\n%s=%s exec '%s' \"$@\"\n", envStandin, name, self)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func standinFail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "systemctl (test stand-in): "+format+"\n", args...)
	return 1
}

func standinSystemctl(args []string) int {
	now := false
	var verb string
	var units []string
	for _, a := range args {
		switch {
		case a == "--now":
			now = true
		case strings.HasPrefix(a, "-"):
			return standinFail("option %s not supported", a)
		case verb == "":
			verb = a
		default:
			if !strings.Contains(a, ".") {
				a += ".service"
			}
			units = append(units, a)
		}
	}
	switch verb {
	case "daemon-reload":
		return 0
	case "enable":
		if !now {
			return 0
		}
		fallthrough
	case "start":
		for _, u := range units {
			if err := startUnit(u); err != nil {
				return standinFail("%s: %v", u, err)
			}
		}
		return 0
	}
	return standinFail("verb %q not supported", verb)
}

// unitPidFile is where the stand-in keeps the main pid of a unit on a host.
func unitPidFile(state, host, unit string) string {
	return filepath.Join(state, "pids", host+"-"+unit)
}

// startUnit starts /etc/systemd/system/UNIT as systemd would start a
// Type=simple service: environment from its EnvironmentFile, argv from
// its ExecStart, its UMask, output to a log (the journal's place).
func startUnit(unit string) error {
	state, host := os.Getenv(envStandinState), os.Getenv(envStandinHost)
	b, err := os.ReadFile(filepath.Join("/etc/systemd/system", unit))
	if err != nil {
		return fmt.Errorf("unit not installed: %w", err)
	}
	u, err := parseUnit(string(b))
	if err != nil {
		return err
	}
	if u.Type != "simple" && u.Type != "" {
		return fmt.Errorf("Type=%s not supported", u.Type)
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG=C"}
	env = append(env, u.Env...)
	for _, f := range u.EnvFiles {
		optional := strings.HasPrefix(f, "-")
		eb, err := os.ReadFile(strings.TrimPrefix(f, "-"))
		if err != nil && !(optional && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("EnvironmentFile: %w", err)
		}
		env = append(env, parseUnitEnvFile(eb)...)
	}
	argv := expandExecStart(u.ExecStart, env)
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
		return fmt.Errorf("ExecStart %q: no absolute path", u.ExecStart)
	}
	logf, err := os.OpenFile(filepath.Join(state, "logs", host+"-"+unit+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "# %s: %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(argv, " "))
	if u.UMask != "" {
		m, err := strconv.ParseUint(u.UMask, 8, 32)
		if err != nil {
			return fmt.Errorf("UMask=%s: %w", u.UMask, err)
		}
		syscall.Umask(int(m))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return os.WriteFile(unitPidFile(state, host, unit), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// ssh options that take a value (ssh(1)).
const sshValueOpts = "BbcDEeFIiJLlmOopQRSWw"

// standinSSH runs `ssh [options] [user@]HOST COMMAND...` as COMMAND in a
// root shell of HOST, its standard input and output passed through.
func standinSSH(args []string) int {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		o := args[i]
		i++
		if len(o) == 2 && strings.ContainsRune(sshValueOpts, rune(o[1])) {
			i++
		}
	}
	if i >= len(args)-1 {
		fmt.Fprintln(os.Stderr, "ssh (test stand-in): needs a host and a command (no interactive sessions)")
		return 255
	}
	host := args[i]
	if _, h, ok := strings.Cut(host, "@"); ok {
		host = h
	}
	state := os.Getenv(envStandinState)
	pid, err := os.ReadFile(filepath.Join(state, "hosts", host))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ssh: Could not resolve hostname %s (test stand-in)\n", host)
		return 255
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssh (test stand-in):", err)
		return 255
	}
	remote := "cd\n" + strings.Join(args[i+1:], " ")
	// A fresh login's environment: nothing of the caller's shell passes.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/root", "LC_ALL=C", "TERM=dumb",
		envStandinState + "=" + state, envStandinHost + "=" + host}
	err = syscall.Exec(nsenter, []string{"nsenter", "-t", string(pid), "-m", "-u", "-n", "--", "bash", "-c", remote}, env)
	fmt.Fprintln(os.Stderr, "ssh (test stand-in):", err)
	return 255
}
