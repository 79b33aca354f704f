package fence

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeAgent writes a shell script standing in for a fence agent (a fake:
// it exercises the runner's handling of timeouts and lies, which no real
// agent does on demand). It records its stdin in DIR/stdin.
func fakeAgent(t *testing.T, name, body string) (string, Device) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\ncat > " + dir + "/stdin\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, Device{Agent: name, Params: map[string]string{"ip": "192.0.2.1", "password": "pw-xyzzy"}}
}

func TestTimeoutIsFailure(t *testing.T) {
	dir, d := fakeAgent(t, "fence_hang", "sleep 30 & echo $! > "+"$(dirname $0)/child; wait")
	r := &Runner{Timeout: 300 * time.Millisecond, Attempts: 2, RetryDelay: 10 * time.Millisecond, Dirs: []string{dir}}
	t0 := time.Now()
	res, err := r.Off(context.Background(), d)
	if !errors.Is(err, ErrAgent) || res.OK || res.Attempts != 2 {
		t.Fatalf("hung agent: %+v, %v", res, err)
	}
	if time.Since(t0) > 10*time.Second {
		t.Fatalf("two attempts of 300 ms took %v", time.Since(t0))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "child"))
	if pid := strings.TrimSpace(string(b)); pid != "" {
		// SIGKILL to the group was sent when Off returned; the kernel
		// takes the child down when it is next scheduled, which on a busy
		// machine can be a moment later. Alive after 5 s means it escaped.
		gone := func() bool {
			st, err := os.ReadFile("/proc/" + pid + "/stat")
			return err != nil || strings.Contains(string(st), ") Z") || strings.Contains(string(st), ") X")
		}
		deadline := time.Now().Add(5 * time.Second)
		for !gone() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !gone() {
			t.Errorf("the agent's child %s survived the timeout by 5 s", pid)
		}
	}
	in, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if !strings.HasPrefix(string(in), "action=off\n") {
		t.Errorf("agent's stdin %q", in)
	}
}

func TestOffNotConfirmed(t *testing.T) {
	// off "succeeds", status keeps saying on (exit 0), and prints the password.
	dir, d := fakeAgent(t, "fence_liar", `echo "using pw-xyzzy"; exit 0`)
	r := &Runner{Timeout: 5 * time.Second, Attempts: 2, RetryDelay: 10 * time.Millisecond, Dirs: []string{dir}}
	res, err := r.Off(context.Background(), d)
	if !errors.Is(err, ErrNotConfirmed) || res.OK || res.Power != string(PowerOn) {
		t.Fatalf("liar: %+v, %v", res, err)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(string(b), "pw-xyzzy") || strings.Contains(err.Error(), "pw-xyzzy") {
		t.Fatalf("secret in the result: %s / %v", b, err)
	}
}

func TestStatusExitCodes(t *testing.T) {
	for code, want := range map[string]Power{"0": PowerOn, "2": PowerOff} {
		dir, d := fakeAgent(t, "fence_fixed", "exit "+code)
		res, err := (&Runner{Dirs: []string{dir}}).Status(context.Background(), d)
		if err != nil || res.Power != string(want) {
			t.Errorf("exit %s: %+v %v", code, res, err)
		}
	}
	dir, d := fakeAgent(t, "fence_fixed", "exit 1")
	if res, err := (&Runner{Dirs: []string{dir}}).Status(context.Background(), d); !errors.Is(err, ErrAgent) || res.Power != string(PowerUnknown) {
		t.Errorf("exit 1: %+v %v", res, err)
	}
	if _, err := (&Runner{Dirs: []string{}}).Status(context.Background(), Device{Agent: "fence_nonexistent_xyz"}); !errors.Is(err, ErrAgent) {
		t.Errorf("missing agent: %v", err)
	}
}
