package realtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// directSkip matches a call of testing's Skip, Skipf or SkipNow.
var directSkip = regexp.MustCompile(`\b(t|b|tb|f)\.Skip(f|Now)?\(`)

// TestEverySkipGoesThroughRealtest: no Go file of the repository outside
// this package calls t.Skip (or b., tb., f.) directly; each skip goes
// through Need, NeedRoot, NeedBinaries, Optional or Short.
func TestEverySkipGoesThroughRealtest(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "testdata" || n == "node_modules" || p == filepath.Join(root, "realtest") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if code, _, _ := strings.Cut(line, "//"); directSkip.MatchString(code) {
				rel, _ := filepath.Rel(root, p)
				found = append(found, rel+":"+itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Fatalf("%d direct skips; use package realtest:\n%s", len(found), strings.Join(found, "\n"))
	}
}

func itoa(i int) string {
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}
