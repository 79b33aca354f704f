package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
)

type nameParam struct {
	Name string `json:"name"`
}

func nameOf(raw json.RawMessage) string {
	var p nameParam
	_ = json.Unmarshal(raw, &p)
	return p.Name
}

// TestStateLocksCoverTheNode: an instance job takes its instance's node
// shared, computed from the state when it starts; a node job (an
// evacuation) takes the node exclusive and, computed when it starts, every
// instance on the node. So the evacuation waits for the instance job, and
// then holds what is on the node.
func TestStateLocksCoverTheNode(t *testing.T) {
	release := make(chan struct{})
	var c *clientv3.Client
	inst := Kind{
		Name:  "test.inst",
		Locks: func(raw json.RawMessage) []string { return []string{"instance/" + nameOf(raw)} },
		StateLocks: func(ctx context.Context, raw json.RawMessage) ([]string, error) {
			r, err := c.Get(ctx, "/test/on/"+nameOf(raw))
			if err != nil || len(r.Kvs) == 0 {
				return nil, fmt.Errorf("instance %s: %v", nameOf(raw), err)
			}
			return []string{Shared("node/" + string(r.Kvs[0].Value))}, nil
		},
		Steps: func(json.RawMessage) ([]Step, error) {
			return []Step{{Name: "work", Run: func(ctx context.Context, _ *StepContext) error {
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}}, nil
		},
	}
	evac := Kind{
		Name:  "test.evac",
		Locks: func(raw json.RawMessage) []string { return []string{"node/" + nameOf(raw)} },
		StateLocks: func(ctx context.Context, raw json.RawMessage) ([]string, error) {
			r, err := c.Get(ctx, "/test/on/", clientv3.WithPrefix())
			if err != nil {
				return nil, err
			}
			var out []string
			for _, kv := range r.Kvs {
				if string(kv.Value) == nameOf(raw) {
					out = append(out, "instance/"+strings.TrimPrefix(string(kv.Key), "/test/on/"))
				}
			}
			return out, nil
		},
		Steps: func(json.RawMessage) ([]Step, error) {
			return []Step{{Name: "move", Run: func(context.Context, *StepContext) error { return nil }}}, nil
		},
	}
	h := startHarness(t, inst, evac)
	c = h.c
	for k, v := range map[string]string{"i1": "n1", "i2": "n1", "i3": "n2"} {
		if _, err := c.Put(t.Context(), "/test/on/"+k, v); err != nil {
			t.Fatal(err)
		}
	}
	i1 := h.submit(t, op(t, "test.inst", nameParam{"i1"}))
	j := h.waitJob(t, i1, "running", func(j *api.Job) bool { return j.State == api.JobRunning })
	if want := []string{Shared("node/n1"), "instance/i1"}; !slices.Equal(j.Locks, want) {
		t.Fatalf("instance job's locks %v, want %v", j.Locks, want)
	}
	// Another node's instance is not held up by i1.
	i3 := h.submit(t, op(t, "test.inst", nameParam{"i3"}))
	h.waitJob(t, i3, "running", func(j *api.Job) bool { return j.State == api.JobRunning })
	ev := h.submit(t, op(t, "test.evac", nameParam{"n1"}))
	h.waitJob(t, ev, "waiting for i1's job", func(j *api.Job) bool { return j.State == api.JobWaiting })
	close(release)
	j = h.waitJob(t, ev, "finished", finished)
	if j.State != api.JobSuccess {
		t.Fatalf("evacuation: %s %+v", j.State, j.Error)
	}
	if want := []string{"node/n1", "instance/i1", "instance/i2"}; !slices.Equal(j.Locks, want) {
		t.Fatalf("evacuation's locks %v, want %v", j.Locks, want)
	}
	for _, id := range []uint64{i1, i3} {
		if j := h.waitJob(t, id, "finished", finished); j.State != api.JobSuccess {
			t.Fatalf("job %d: %s %+v", id, j.State, j.Error)
		}
	}
	// A lock that cannot be computed fails the job at its start.
	bad := h.submit(t, op(t, "test.inst", nameParam{"nosuch"}))
	if j := h.waitJob(t, bad, "finished", finished); j.State != api.JobError || !strings.Contains(j.Error.Message, "compute locks") {
		t.Fatalf("job with unknown instance: %s %+v", j.State, j.Error)
	}
}

// TestCrossedLocksDoNotDeadlock: jobs that name the same locks in every
// order and mode all finish (a job takes all its locks at once, in the
// total order, or waits holding none).
func TestCrossedLocksDoNotDeadlock(t *testing.T) {
	type lp struct {
		Locks []string `json:"locks"`
	}
	k := Kind{
		Name: "test.locks",
		Locks: func(raw json.RawMessage) []string {
			var p lp
			_ = json.Unmarshal(raw, &p)
			return p.Locks
		},
		Steps: func(json.RawMessage) ([]Step, error) {
			noop := func(context.Context, *StepContext) error { return nil }
			return []Step{{Name: "a", Run: noop}, {Name: "b", Run: noop}}, nil
		},
	}
	h := startHarness(t, k)
	rng := rand.New(rand.NewPCG(7, 7))
	var ids []uint64
	for range 30 {
		names := []string{"node/a", "node/b", "instance/c", LockCluster}[:3+rng.IntN(2)]
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		var locks []string
		for _, n := range names[:1+rng.IntN(len(names))] {
			if rng.IntN(2) == 0 {
				n = Shared(n)
			}
			locks = append(locks, n)
		}
		ids = append(ids, h.submit(t, op(t, "test.locks", lp{locks})))
	}
	for _, id := range ids {
		if j := h.waitJob(t, id, "finished", finished); j.State != api.JobSuccess {
			t.Fatalf("job %d (%v): %s %+v", id, j.Locks, j.State, j.Error)
		}
	}
}
