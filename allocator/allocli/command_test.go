package allocli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// allocTestCluster: two busy nodes and two idle ones, all DRBD.
const allocTestCluster = `default|uuid-default|preferred||

n1|65536|1024|39936|2097152|1933312|16|M|uuid-default|1|
n2|65536|1024|39936|2097152|1933312|16|N|uuid-default|1|
n3|65536|1024|64512|2097152|2097152|16|N|uuid-default|1|
n4|65536|1024|64512|2097152|2097152|16|N|uuid-default|1|

i1|8192|40960|2|running|Y|n1|n2|drbd||1
i2|8192|40960|2|running|Y|n1|n2|drbd||1
i3|8192|40960|2|running|Y|n1|n2|drbd||1
i4|8192|40960|2|running|Y|n2|n1|drbd||1
i5|8192|40960|2|running|Y|n2|n1|drbd||1
i6|8192|40960|2|running|Y|n2|n1|drbd||1


|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|drbd,plain|4.0|32.0
`

func runAlloc(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "drover", Writer: &out, ErrWriter: &out, Commands: []*cli.Command{Command()}}
	err := app.Run(append([]string{"drover", "alloc"}, args...))
	return out.String(), err
}

func writeAllocFile(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cluster.data")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAllocBalanceCommand(t *testing.T) {
	f := writeAllocFile(t, allocTestCluster)
	saved := filepath.Join(t.TempDir(), "balanced.data")
	out, err := runAlloc(t, "balance", "-t", f, "-S", saved)
	if err != nil {
		t.Fatal(err, out)
	}
	moves := regexp.MustCompile(`(?m)^\s+\d+\. i\d\s+n\d:n\d => n\d:n\d [0-9.]+ a=`).FindAllString(out, -1)
	if len(moves) == 0 || !strings.Contains(out, "Initial score:") || !strings.Contains(out, "Solution length=") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	data, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	// the saved file is a valid cluster on which balance finds nothing more to do
	out2, err := runAlloc(t, "balance", "-t", saved, "-o", "json")
	if err != nil {
		t.Fatal(err, out2)
	}
	var plan struct {
		Moves        []any   `json:"moves"`
		InitialScore float64 `json:"initial_score"`
	}
	if err := json.Unmarshal([]byte(out2), &plan); err != nil {
		t.Fatal(err, out2)
	}
	if len(plan.Moves) != 0 {
		t.Fatalf("balanced file still has %d moves:\n%s", len(plan.Moves), data)
	}
	out3, err := runAlloc(t, "balance", "-t", f, "-l", "1")
	if err != nil || !strings.Contains(out3, "Solution length=1") {
		t.Fatalf("-l 1: %v\n%s", err, out3)
	}
}

func TestAllocAllocateCommand(t *testing.T) {
	f := writeAllocFile(t, allocTestCluster)
	out, err := runAlloc(t, "allocate", "-t", f, "--disk-template", "drbd", "--memory", "4g", "--disk", "20G", "--vcpus", "2", "-o", "json")
	if err != nil {
		t.Fatal(err, out)
	}
	var res struct {
		Success   bool   `json:"success"`
		Primary   string `json:"primary"`
		Secondary string `json:"secondary"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err, out)
	}
	if !res.Success || res.Primary == res.Secondary || (res.Primary != "n3" && res.Primary != "n4") {
		t.Fatalf("bad allocation %+v", res)
	}
	out, err = runAlloc(t, "allocate", "-t", f, "--memory", "100g", "--disk", "20G")
	if err == nil || !strings.Contains(err.Error(), "no node fits") || strings.Count(out, "(primary)") != 4 {
		t.Fatalf("an instance bigger than any node must fail with reasons: %v\n%s", err, out)
	}
}

func TestAllocCapacityAndEvacuateCommands(t *testing.T) {
	f := writeAllocFile(t, allocTestCluster)
	out, err := runAlloc(t, "capacity", "-t", f, "--disk-template", "drbd", "--spec", "40G,8g,2")
	if err != nil {
		t.Fatal(err, out)
	}
	m := regexp.MustCompile(`Instances allocated: (\d+)\nFailure reason: (FAIL\w+)`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Fatalf("unexpected capacity output:\n%s", out)
	}
	out, err = runAlloc(t, "evacuate", "-t", f, "--node", "n1")
	if err != nil {
		t.Fatal(err, out)
	}
	if regexp.MustCompile(`=> (n1:|\S+:n1 )`).MatchString(out) || !strings.Contains(out, "Moves: 6, unmovable: 0") {
		t.Fatalf("evacuation of n1 left something on it:\n%s", out)
	}
}

func TestAllocBadFile(t *testing.T) {
	f := writeAllocFile(t, strings.Replace(allocTestCluster, "n3|65536|", "n3|lots|", 1))
	_, err := runAlloc(t, "balance", "-t", f)
	if err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("want an error naming line 5, got %v", err)
	}
	_, err = runAlloc(t, "capacity", "-t", f, "--spec", "1,2")
	if err == nil {
		t.Fatal("a bad --spec must fail")
	}
}
