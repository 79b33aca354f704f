package ipmisim_test

import "os/exec"

func runShell(prog string, args ...string) ([]byte, error) {
	return exec.Command(prog, args...).CombinedOutput()
}
