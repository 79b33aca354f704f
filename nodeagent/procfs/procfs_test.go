package procfs

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestTreeOfAChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	child := cmd.Process.Pid
	if got := Parent(child); got != os.Getpid() {
		t.Fatalf("Parent(%d) = %d, want %d", child, got, os.Getpid())
	}
	if !slices.Contains(PIDs(), child) {
		t.Fatalf("PIDs() lacks %d", child)
	}
	tree := WithDescendants([]int{os.Getpid()})
	if len(tree) == 0 || tree[0] != os.Getpid() || !slices.Contains(tree, child) {
		t.Fatalf("WithDescendants(self) = %v, want self first and %d in it", tree, child)
	}
	if f, ok := Stat(child); !ok || len(f) < 20 {
		t.Fatalf("Stat(%d) = %v, %v", child, f, ok)
	}
	if WithDescendants(nil) != nil {
		t.Fatal("WithDescendants(nil) not nil")
	}
	if _, ok := Stat(-1); ok {
		t.Fatal("Stat(-1) ok")
	}
}
