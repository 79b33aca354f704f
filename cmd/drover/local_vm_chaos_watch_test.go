package main

// The checkers of the node-guest chaos harness (local_vm_chaos_test.go):
// a sampler that, every 500 ms, reads what every node publishes (its
// domains and DRBD roles) and counts a moment with two running copies of
// an instance (two nodes whose guest is alive publish it running, or its
// resource Primary) outside a migration's two-primaries window; the
// records check (every record acknowledged before a fault is on the copy
// that writes after it, intact); the jobs check (every job final).

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// copyWatch samples the nodes' published state for two running copies.
type copyWatch struct {
	l       *vmLab
	nodes   []string
	mu      sync.Mutex
	insts   map[string]string    // tracked instance -> its DRBD resource
	exempt  map[string]time.Time // instance -> end of its migration window (zero: open)
	samples int
	bad     []string
	stop    chan struct{}
	done    chan struct{}
}

func (l *vmLab) watchCopies(nodes []string) *copyWatch {
	w := &copyWatch{l: l, nodes: nodes, insts: map[string]string{}, exempt: map[string]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *copyWatch) track(name, resource string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.insts[name] = resource
}

func (w *copyWatch) untrack(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.insts, name)
}

// migrating opens (open) or closes an instance's migration window: two
// primaries are allowed inside it, and for publishSlack after it.
func (w *copyWatch) migrating(name string, open bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if open {
		w.exempt[name] = time.Time{}
	} else {
		w.exempt[name] = time.Now().Add(publishSlack)
	}
}

func (w *copyWatch) run() {
	defer close(w.done)
	for {
		w.sample()
		select {
		case <-w.stop:
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sample is one look at every node. A node counts only when its guest's
// QEMU is alive before and after its keys are read: a powered-off node's
// lease-bound keys stay until the lease expires, which is not a copy.
func (w *copyWatch) sample() {
	d := localDir(w.l.dir)
	running := map[string][]string{} // instance -> nodes publishing it running
	primary := map[string][]string{} // resource -> nodes publishing it Primary
	for _, n := range w.nodes {
		pid, ok := d.alive(n)
		if !ok {
			continue
		}
		doms, roles, err := w.read(n)
		if err != nil || !processAlive(pid) {
			continue
		}
		for inst, st := range doms {
			if st == keys.DomainRunning {
				running[inst] = append(running[inst], n)
			}
		}
		for res, role := range roles {
			if role == "Primary" {
				primary[res] = append(primary[res], n)
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	now := time.Now()
	for inst, res := range w.insts {
		if end, ok := w.exempt[inst]; ok && (end.IsZero() || now.Before(end)) {
			continue
		}
		if r := running[inst]; len(r) > 1 {
			w.bad = append(w.bad, fmt.Sprintf("%s: %s running on %v", now.Format("15:04:05.0"), inst, r))
		}
		if p := primary[res]; len(p) > 1 {
			w.bad = append(w.bad, fmt.Sprintf("%s: %s Primary on %v", now.Format("15:04:05.0"), res, p))
		}
	}
}

// read is node's published domains (instance -> state) and DRBD roles
// (resource -> role).
func (w *copyWatch) read(node string) (map[string]string, map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	doms := map[string]string{}
	r, err := w.l.cli.Get(ctx, keys.NodeDomainKey(node, ""), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, err
	}
	for _, kv := range r.Kvs {
		var st keys.DomainStatus
		if json.Unmarshal(kv.Value, &st) == nil {
			doms[strings.TrimPrefix(string(kv.Key), keys.NodeDomainKey(node, ""))] = st.State
		}
	}
	roles := map[string]string{}
	r, err = w.l.cli.Get(ctx, keys.NodeDRBDKey(node))
	if err != nil {
		return nil, nil, err
	}
	if len(r.Kvs) > 0 {
		var st keys.DRBDState
		if json.Unmarshal(r.Kvs[0].Value, &st) == nil {
			for _, x := range st.Resources {
				roles[x.Name] = x.Role
			}
		}
	}
	return doms, roles, nil
}

// finish stops the sampler: the number of samples and the violations.
func (w *copyWatch) finish() (int, []string) {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples, slices.Clone(w.bad)
}

// writerMark is what an instance's writer had acknowledged before a fault.
type writerMark struct {
	primary string
	acked   int
	from    int // the last "writing records ... from N" on primary (0: none seen)
}

// lastStart is the N of the last "writing records to DEV from N" in text
// (0: none) and whether the records before it were found intact.
func lastStart(text, dev string) (int, bool) {
	all := writingRE(dev).FindAllStringSubmatch(text, -1)
	if len(all) == 0 {
		return 0, false
	}
	from, _ := strconv.Atoi(all[len(all)-1][1])
	return from, from == 1 || strings.Contains(text, fmt.Sprintf("records up to %d intact", from-1))
}

func devOn(rec keys.InstanceRecord, node string) string {
	return "/dev/drbd" + strconv.Itoa(minorOf(rec, node))
}

// mark reads an instance's writer before a fault.
func (l *vmLab) mark(name string) writerMark {
	rec := l.record(name)
	text := l.consoleIfAny(rec.PrimaryNode, rec)
	from, _ := lastStart(text, devOn(rec, rec.PrimaryNode))
	m := ackRE.FindAllStringSubmatch(text, -1)
	acked := 0
	if len(m) > 0 {
		acked, _ = strconv.Atoi(m[len(m)-1][1])
	}
	return writerMark{primary: rec.PrimaryNode, acked: acked, from: from}
}

// checkWriter is the records check after a fault: the instance's writer
// (on its primary now) acknowledges past what was acknowledged before; if a
// new writer began (elsewhere, or again on the same node), it began after
// every record acknowledged before, with the records before it intact. ""
// when all holds; the violation otherwise. Waits up to limit for the
// writer to move on.
func (l *vmLab) checkWriter(name string, before writerMark, limit time.Duration) string {
	var why string
	for deadline := time.Now().Add(limit); ; time.Sleep(2 * time.Second) {
		rec := l.record(name)
		text := l.consoleIfAny(rec.PrimaryNode, rec)
		from, intact := lastStart(text, devOn(rec, rec.PrimaryNode))
		m := ackRE.FindAllStringSubmatch(text, -1)
		acked := 0
		if len(m) > 0 {
			acked, _ = strconv.Atoi(m[len(m)-1][1])
		}
		fresh := rec.PrimaryNode != before.primary || (from != 0 && from != before.from)
		switch {
		case fresh && from == 0:
			why = fmt.Sprintf("%s: no writer seen on its new primary %s yet", name, rec.PrimaryNode)
		case fresh && !intact:
			return fmt.Sprintf("%s: the writer on %s from %d did not find records 1..%d intact:\n%s\n...\n%s", name, rec.PrimaryNode, from, from-1,
				writerLines(text), consoleTailOf(text, 5))
		case fresh && from-1 < before.acked:
			return fmt.Sprintf("%s: the writer on %s continues from %d; %d were acknowledged on %s before the fault (acknowledged records lost)",
				name, rec.PrimaryNode, from, before.acked, before.primary)
		case acked <= before.acked:
			why = fmt.Sprintf("%s: acknowledged %d on %s, not past %d", name, acked, rec.PrimaryNode, before.acked)
		default:
			return ""
		}
		if time.Now().After(deadline) {
			return why + fmt.Sprintf(" within %v (writer stalled)", limit)
		}
	}
}

// writerLines are the writer's own lines of a console (its starts, what it
// found on the disk), not its acks.
func writerLines(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "workload:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func consoleTailOf(text string, lines int) string {
	l := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

// unfinishedJobs lists the jobs not in a final state.
func (l *vmLab) unfinishedJobs() ([]string, int, error) {
	out, errOut, code := l.localCluster.cli(nil, "--output", "json", "job", "list")
	if code != 0 {
		return nil, 0, fmt.Errorf("job list: exit %d %s", code, errOut)
	}
	var jobs []api.Job
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		return nil, 0, fmt.Errorf("job list: %w", err)
	}
	var open []string
	for _, j := range jobs {
		if !j.State.Finished() {
			open = append(open, fmt.Sprintf("%d %s", j.ID, j.State))
		}
	}
	return open, len(jobs), nil
}
