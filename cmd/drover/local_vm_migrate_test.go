package main

// instance migrate of a drbd instance on real DRBD in node guests
// (workload driver), run inside runVMDRBD (local_vm_drbd_test.go) on its
// two guests: while the job runs, both agents' roles as they publish them
// from events2 are sampled every 100 ms; two primaries only inside the
// job's two-primaries window, and one writer after the other (the target's
// workload begins right after the source's last acknowledged record, with
// every record before it intact).

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// roleSample is both nodes' DRBD role of the resource at one moment.
type roleSample struct {
	at   time.Time
	a, b string
}

// publishSlack is how late an agent may publish a role change it saw in
// events2 (its state is written on change; a loaded guest is slow).
const publishSlack = 3 * time.Second

// migrateChecked runs `instance migrate name` (its primary from -> to) and
// checks the window and the hand-over; it returns the record after it.
func (l *vmLab) migrateChecked(version, name, from, to string) keys.InstanceRecord {
	t := l.t
	t.Helper()
	inst := l.record(name)
	res := inst.Disks[0].DRBD.Resource
	var (
		mu      sync.Mutex
		samples []roleSample
		done    = make(chan struct{})
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		for {
			a, _ := l.drbdState(from, res)
			b, _ := l.drbdState(to, res)
			mu.Lock()
			samples = append(samples, roleSample{at: time.Now(), a: a.Role, b: b.Role})
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	t0 := time.Now()
	out, errOut, code := l.localCluster.cli(nil, "instance", "migrate", "-n", to, "--output", "json", name)
	took := time.Since(t0)
	close(done)
	wg.Wait()
	var j api.Job
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || j.State != api.JobSuccess {
		t.Fatalf("instance migrate %s (%s -> %s): exit %d\n%s%s", name, from, to, code, out, errOut)
	}
	var began, opened, closed time.Time
	var log []string
	for _, e := range j.Log {
		log = append(log, e.Time.Format("15:04:05.000")+" "+e.Message)
		switch {
		case strings.HasPrefix(e.Message, "migrating "+name) && began.IsZero():
			began = e.Time
		case strings.Contains(e.Message, "two primaries allowed") && opened.IsZero():
			opened = e.Time
		case strings.Contains(e.Message, "two primaries no longer allowed"):
			closed = e.Time
		}
	}
	if began.IsZero() || opened.IsZero() || closed.IsZero() {
		t.Fatalf("migrate job log without the two-primaries window:\n%s", strings.Join(log, "\n"))
	}
	// Two primaries only inside the window: the target is promoted after
	// the "migrating" line and the source demoted before the "no longer
	// allowed" one (each line is logged when its step is done).
	both, first, last := 0, time.Time{}, time.Time{}
	for _, s := range samples {
		if s.a != "Primary" || s.b != "Primary" {
			continue
		}
		both++
		if first.IsZero() {
			first = s.at
		}
		last = s.at
		if s.at.Before(began) || s.at.After(closed.Add(publishSlack)) {
			t.Errorf("DRBD %s: %s and %s both Primary at %s, outside the migration's window (%s .. %s)", version, from, to,
				s.at.Format("15:04:05.000"), began.Format("15:04:05.000"), closed.Format("15:04:05.000"))
		}
	}
	// One writer after the other: the source's workload stopped (its last
	// acknowledged record, read from its log by the source's agent, is in
	// the job's result), then the target's began right after it.
	var mr api.MigrateResult
	if err := json.Unmarshal(j.Result, &mr); err != nil || mr.LastAck == 0 {
		t.Fatalf("migrate result without the source workload's last record: %s (%v)", j.Result, err)
	}
	final := int(mr.LastAck)
	rec := l.record(name)
	dev := fmt.Sprintf("/dev/drbd%d", vmMinorOf(rec, to))
	// The target's console keeps what earlier writers there printed: wait
	// for this writer's line.
	startLine := fmt.Sprintf("writing records to %s from %d ", dev, final+1)
	var text string
	for deadline := time.Now().Add(120 * time.Second); !strings.Contains(text, startLine); time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("DRBD %s: %s's workload acknowledged up to %d and stopped; %s's workload did not begin at %d within 120 s (one writer after the other, nothing lost); its console:\n%s",
				version, from, final, to, final+1, text)
		}
		text = l.console(to, rec)
	}
	if !strings.Contains(text, fmt.Sprintf("records up to %d intact", final)) {
		t.Fatalf("DRBD %s: %s's workload did not find records 1..%d intact:\n%s", version, to, final, text)
	}
	cont := final + 1
	if rec.PrimaryNode != to {
		t.Errorf("after the migration: primary %s, want %s", rec.PrimaryNode, to)
	}
	waitFor(t, 30*time.Second, "one primary again", func() bool {
		a, _ := l.drbdState(to, res)
		b, _ := l.drbdState(from, res)
		return a.Role == "Primary" && b.Role == "Secondary"
	})
	window := "not sampled (shorter than a sample)"
	if both > 0 {
		window = fmt.Sprintf("%s .. %s", first.Format("15:04:05.0"), last.Format("15:04:05.0"))
	}
	t.Logf("DRBD %s: instance migrate %s %s -> %s: %.1f s (opcode %.1f s); %d role samples, %d with two primaries (%s; job window %s .. %s); "+
		"%s stopped after record %d, %s continued from %d\n%s",
		version, name, from, to, took.Seconds(), mr.Seconds, len(samples), both, window,
		opened.Format("15:04:05.0"), closed.Format("15:04:05.0"), from, final, to, cont, strings.Join(log, "\n"))
	return rec
}

// vmMinorOf is the DRBD minor of the instance's first disk on node.
func vmMinorOf(rec keys.InstanceRecord, node string) int {
	for _, n := range rec.Disks[0].DRBD.Nodes {
		if n.Node == node {
			return n.Minor
		}
	}
	return -1
}
