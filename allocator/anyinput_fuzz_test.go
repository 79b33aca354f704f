package allocator_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/allocator/htools"
	"github.com/drover-project/drover/allocator/internal/htgen"
)

// TestPropertyAnyCluster draws whole random clusters (sizes, template and run
// state mixes, offline and drained nodes, tags, group policies, inconsistent
// free space) and checks every request on each; half of them go through the
// htools text format first, as the CLI reads them.
func TestPropertyAnyCluster(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 60
	}
	for seed := range uint64(n) {
		c := randomCluster(t, seed, 20)
		if seed%2 == 1 {
			c = viaText(t, c)
		}
		if err := checkAnyInput(c); err != nil {
			var buf bytes.Buffer
			_ = htools.Write(&buf, c)
			t.Fatalf("seed %d: %v\ncluster:\n%s", seed, err, buf.String())
		}
	}
}

func randomCluster(t testing.TB, seed uint64, maxNodes int) *allocator.Cluster {
	t.Helper()
	c, err := htgen.Random(rand.New(rand.NewPCG(seed, 0xa110c)), maxNodes)
	if err != nil {
		t.Fatalf("seed %d: generator: %v", seed, err)
	}
	return c
}

func viaText(t testing.TB, c *allocator.Cluster) *allocator.Cluster {
	t.Helper()
	var buf bytes.Buffer
	if err := htools.Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	out, err := htools.ParseBytes(buf.Bytes())
	if err != nil {
		t.Fatalf("written cluster does not parse: %v", err)
	}
	return out
}

// FuzzRequests: any htools text the parser accepts, however odd, makes no
// request panic or break an invariant. The seeds are random whole clusters.
func FuzzRequests(f *testing.F) {
	for seed := range uint64(12) {
		var buf bytes.Buffer
		if err := htools.Write(&buf, randomCluster(f, seed, 10)); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := htools.ParseBytes(data)
		if err != nil {
			return
		}
		if len(c.Nodes()) > 24 || len(c.Instances()) > 240 {
			return // keep each input fast; size is covered by the property tests
		}
		if err := checkAnyInput(c); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRandomCluster: the fuzzer steers the random cluster generator.
func FuzzRandomCluster(f *testing.F) {
	f.Add(uint64(1), uint8(8))
	f.Add(uint64(7), uint8(30))
	f.Fuzz(func(t *testing.T, seed uint64, nodes uint8) {
		c := randomCluster(t, seed, int(nodes%24))
		if err := checkAnyInput(c); err != nil {
			t.Fatalf("seed %d nodes %d: %v", seed, nodes%24, err)
		}
	})
}
