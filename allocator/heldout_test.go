package allocator_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/allocator/htools"
)

// TestHeldOutAgainstHbal compares Balance with hbal's results on a directory
// of htools files (SET_DIR), each with a NAME.href line "NAME SCORE MOVES CPU"
// written by hbal (see docs/allocator.md, "held-out clusters"). Without
// SET_DIR it is skipped: CI has no htools.
func TestHeldOutAgainstHbal(t *testing.T) {
	dir := os.Getenv("SET_DIR")
	if dir == "" {
		realtest.Optional(t, "set SET_DIR to a directory of htools files with hbal results")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.href"))
	okS, okM := 0, 0
	for _, f := range files {
		ref, _ := os.ReadFile(f)
		fs := strings.Fields(string(ref))
		if len(fs) < 3 || fs[1] == "t/o" {
			continue
		}
		hs, _ := strconv.ParseFloat(fs[1], 64)
		hm, _ := strconv.Atoi(fs[2])
		data, _ := os.ReadFile(strings.TrimSuffix(f, ".href") + ".data")
		c, err := htools.ParseBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		p := c.Balance(allocator.BalanceOptions{})
		d := time.Since(t0)
		v := ""
		if p.FinalScore <= hs+1e-8 {
			okS++
		} else {
			v += " SCORE"
			t.Errorf("%s: score %v, hbal %v", fs[0], p.FinalScore, hs)
		}
		if len(p.Moves) <= hm {
			okM++
		} else {
			v += " MOVES"
			t.Errorf("%s: %d moves, hbal %d", fs[0], len(p.Moves), hm)
		}
		t.Logf("%-6s h %.5f %3d | d %.5f %3d %6.1fms %s", fs[0], hs, hm, p.FinalScore, len(p.Moves), float64(d.Microseconds())/1000, v)
	}
	t.Logf("score ok %d, moves ok %d of %d\n", okS, okM, len(files))
}
