package master

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Migration of one instance (docs/migration.md). migrateSteps are the steps
// of one instance's move; instance.migrate runs them, and jobs that move
// several instances (node evacuate, node migrate) may run them for each
// instance inside their own job, under their own locks.

// cmdTimeoutMigrate bounds the source's part of a migration (memory and
// disk copy).
const cmdTimeoutMigrate = 30 * time.Minute

// migrationHypervisors are the hypervisors whose instances migrate.
var migrationHypervisors = map[string]bool{"kvm": true, "xen": true, "workload": true}

// migration is one instance's planned move, as a step reads it.
type migration struct {
	rec            *keys.InstanceRecord
	source, target string
	mode           string
}

// planMigration reads the instance and checks that it can move to target
// ("" = the drbd secondary, or the node with most free memory).
func (m *Master) planMigration(ctx context.Context, name string, o api.MigrateOptions) (*migration, error) {
	rec, _, err := m.instanceRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	if !migrationHypervisors[rec.Hypervisor] {
		return nil, api.Errorf(api.CodeWrongInput, "instance %s runs on hypervisor %s, which does not migrate (kvm, xen, workload)", name, rec.Hypervisor)
	}
	mg := &migration{rec: rec, source: rec.PrimaryNode, target: o.TargetNode, mode: o.Mode}
	if mg.mode == "" {
		mg.mode = api.MigrateModeLive
	}
	if mg.mode == api.MigrateModeHibernate && rec.DiskTemplate != "drbd" && rec.DiskTemplate != api.DiskTemplateDiskless {
		return nil, api.Errorf(api.CodeWrongInput, "instance %s: hibernate moves the guest's state, not its disks: only for drbd (and diskless) instances; %s disks migrate live",
			name, rec.DiskTemplate)
	}
	if peer := drbdPeer(rec); rec.DiskTemplate == "drbd" {
		switch {
		case peer == "":
			return nil, api.Errorf(api.CodeWrongState, "instance %s has no drbd secondary recorded", name)
		case mg.target == "":
			mg.target = peer
		case mg.target != peer:
			return nil, api.Errorf(api.CodeWrongInput, "drbd instance %s migrates to its secondary %s, not %s (replace-disks moves the secondary)", name, peer, mg.target)
		}
	}
	if mg.target == "" {
		if mg.target, err = m.chooseMigrationTarget(ctx, rec); err != nil {
			return nil, err
		}
	}
	if mg.target == mg.source {
		return nil, api.Errorf(api.CodeWrongInput, "instance %s is on %s already", name, mg.source)
	}
	if err := m.checkMigrationTarget(ctx, rec, mg.target); err != nil {
		return nil, err
	}
	d, err := m.domainStatus(ctx, mg.source, name)
	if err != nil {
		return nil, err
	}
	if d == nil || d.State != keys.DomainRunning {
		state := "no domain"
		if d != nil {
			state = d.State
		}
		return nil, api.Errorf(api.CodeWrongState, "instance %s does not run on %s (%s): only a running instance migrates; a stopped one fails over", name, mg.source, state)
	}
	return mg, nil
}

// migrateSteps are the steps that move instance name as o says.
func (m *Master) migrateSteps(name string, o api.MigrateOptions) []jobs.Step {
	steps := []jobs.Step{{Name: "migrate", Run: func(ctx context.Context, sc *jobs.StepContext) error {
		mg, err := m.planMigration(ctx, name, o)
		if err != nil {
			// A resumed job whose domain moved already goes on.
			if done, derr := m.migratedAlready(ctx, name, o.TargetNode); derr == nil && done != nil {
				sc.Logf("instance %s runs on %s already: the migration went through", name, done.target)
				return nil
			}
			// A resumed job whose move ended before the target's copy
			// was resumed: settle it as a failed migrate-source.
			if cut, derr := m.pausedCopy(ctx, name, o.TargetNode); derr == nil && cut != nil {
				cut.mode = cmp.Or(o.Mode, api.MigrateModeLive)
				sc.Logf("instance %s has a paused copy on %s (%s): a move cut short", name, cut.target, err)
				return m.settleAndFinish(ctx, sc, cut, keys.MigrateParams{Mode: cut.mode}, err, time.Now())
			}
			return err
		}
		return m.runMigration(ctx, sc, mg, o)
	}}}
	steps = append(steps, jobs.Step{Name: "demote-source", Run: func(ctx context.Context, sc *jobs.StepContext) error {
		mg, err := m.waitMigrated(ctx, name, o.TargetNode)
		if err != nil {
			return err
		}
		return m.drbdSingle(ctx, sc, "close", mg.rec, mg.target)
	}})
	return append(steps, jobs.Step{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
		mg, err := m.waitMigrated(ctx, name, o.TargetNode)
		if err != nil {
			return err
		}
		if mg.target == mg.rec.PrimaryNode {
			return nil // recorded by an earlier run of this step
		}
		return m.movePrimary(ctx, sc, mg.rec, mg.target)
	}}, jobs.Step{Name: "forget-source", Run: func(ctx context.Context, sc *jobs.StepContext) error {
		rec, _, err := m.instanceRecord(ctx, name)
		if err != nil {
			return err
		}
		copies, err := m.instanceCopies(ctx, rec)
		if err != nil {
			return err
		}
		// A second running copy beside the primary's running one (the
		// source resumed by its restarted libvirtd after the target took
		// over) is destroyed: never two running copies.
		primaryRuns := copies[rec.PrimaryNode] != nil && copies[rec.PrimaryNode].State == keys.DomainRunning
		for _, n := range sortedKeys(copies) {
			if n != rec.PrimaryNode {
				if err := m.forgetCopy(ctx, sc, "source", rec, n, primaryRuns && copies[n] != nil && copies[n].State == keys.DomainRunning); err != nil {
					return err
				}
			}
		}
		return nil
	}})
}

// runMigration is the hypervisor part: prepare the target, (drbd) open
// the two-primaries window and promote the target, move the domain, make
// sure it runs on the target. A failed move is reverted (the instance goes
// on running on the source).
func (m *Master) runMigration(ctx context.Context, sc *jobs.StepContext, mg *migration, o api.MigrateOptions) error {
	rec := mg.rec
	sc.Logf("migrating %s from %s to %s (%s, disk template %s)", rec.Name, mg.source, mg.target, mg.mode, rec.DiskTemplate)
	c := nodeCmd{Node: mg.target, Kind: keys.CmdInstanceMigratePrepare, Instance: *rec,
		Params: keys.MigratePrepareParams{Mode: mg.mode}, Timeout: cmdTimeoutInstall}
	if t, err := m.instanceTemplate(ctx, rec); err == nil && rec.DiskTemplate == api.DiskTemplateFile {
		c.Template = t
	}
	// Block disks (plain, drbd) exist on the target already or are copied
	// by the hypervisor: nothing is installed onto them.
	c.NoInstall = rec.DiskTemplate == api.DiskTemplatePlain || rec.DiskTemplate == api.DiskTemplateDRBD
	out, err := m.stepCmd(ctx, sc, "migrate-prepare", c)
	if err != nil {
		return fmt.Errorf("prepare %s for %s: %w", mg.target, rec.Name, err)
	}
	var tgt keys.MigrateTarget
	if err := json.Unmarshal(out, &tgt); err != nil {
		return fmt.Errorf("prepare output of %s: %w", mg.target, err)
	}
	if err := m.drbdOpenWindow(ctx, sc, rec, mg.source, mg.target); err != nil {
		m.revertMigration(ctx, sc, mg)
		return err
	}
	params := keys.MigrateParams{Mode: mg.mode, Target: tgt, BandwidthMiB: o.BandwidthMiB}
	start := time.Now()
	out, err = m.stepCmd(ctx, sc, "migrate-source", nodeCmd{Node: mg.source, Kind: keys.CmdInstanceMigrate, Instance: *rec,
		Params: params, Timeout: cmdTimeoutMigrate})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return m.settleAndFinish(ctx, sc, mg, params, err, start)
	}
	var src keys.MigrateSourceOutput
	_ = json.Unmarshal(out, &src)
	if src.LastAck > 0 {
		sc.Logf("workload on %s stopped after record %d", mg.source, src.LastAck)
	}
	params.Source = src.Source
	return m.finishMigration(ctx, sc, mg, params, src.LastAck, start)
}

// finishMigration resumes the domain on the target (a live migration left
// it paused there), once the source's copy is known to be gone, and records
// the job's result.
func (m *Master) finishMigration(ctx context.Context, sc *jobs.StepContext, mg *migration, params keys.MigrateParams, lastAck uint64, start time.Time) error {
	rec := mg.rec
	out, err := m.stepCmd(ctx, sc, "migrate-finish", nodeCmd{Node: mg.target, Kind: keys.CmdInstanceMigrateFinish, Instance: *rec,
		Params: params, Timeout: 5 * time.Minute})
	if err != nil {
		return &api.Error{Code: api.CodeOf(err), Message: fmt.Sprintf("instance %s left %s, but %s does not confirm it runs there: %s; `drover instance migrate --cleanup %s` resolves it",
			rec.Name, mg.source, mg.target, api.AsError(err).Message, rec.Name)}
	}
	var fin keys.MigrateFinishOutput
	_ = json.Unmarshal(out, &fin)
	res := api.MigrateResult{Instance: rec.Name, Source: mg.source, Target: mg.target, Mode: mg.mode,
		TotalMs: fin.TotalMs, DowntimeMs: fin.DowntimeMs, DataBytes: fin.DataBytes, MemoryBytes: fin.MemoryBytes,
		DiskBytes: fin.DiskBytes, LastAck: lastAck, Seconds: time.Since(start).Seconds()}
	if fin.TotalMs > 0 {
		sc.Logf("libvirt job info: total %d ms, downtime %d ms, %s transferred (memory %s, disks %s)",
			fin.TotalMs, fin.DowntimeMs, mib(fin.DataBytes), mib(fin.MemoryBytes), mib(fin.DiskBytes))
	}
	sc.Logf("instance %s runs on %s (%s, %.1f s)", rec.Name, mg.target, fin.State, res.Seconds)
	return sc.SetResult(res)
}

// settleAndFinish ends a move whose migrate-source failed (cause): the
// source's copy is kept when it is still active, running or paused (the
// move is reverted and the copy resumed); only when it is gone is the
// target's copy, which the migration left paused, resumed. So a libvirtd
// or agent killed in the middle never leaves two copies running: the one
// that did not run since the move is destroyed or never resumed.
func (m *Master) settleAndFinish(ctx context.Context, sc *jobs.StepContext, mg *migration, params keys.MigrateParams, cause error, start time.Time) error {
	rec := mg.rec
	why := api.AsError(cause).Message
	st, err := m.settleSource(ctx, sc, mg)
	if err != nil {
		return &api.Error{Code: api.CodeWrongState, Message: fmt.Sprintf("migration of %s to %s failed (%s) and %s does not say what is left of it there (%s): neither copy is resumed; `drover instance migrate --cleanup %s` resolves it once %s answers",
			rec.Name, mg.target, why, mg.source, api.AsError(err).Message, rec.Name, mg.source)}
	}
	if !st.Active {
		sc.Logf("migrate-source on %s failed (%s), but the domain is gone there (%s): the move went through, the copy on %s is resumed",
			mg.source, why, st.State, mg.target)
		return m.finishMigration(ctx, sc, mg, params, 0, start)
	}
	sc.Logf("migrate-source on %s failed (%s); the domain is %s there: the move is reverted", mg.source, why, st.State)
	m.revertMigration(ctx, sc, mg)
	if st.State == keys.DomainPaused {
		if err := m.resumeCopy(ctx, sc, "revert-resume", rec, mg.source); err != nil {
			return &api.Error{Code: api.CodeOf(err), Message: fmt.Sprintf("migration of %s to %s failed (reverted), and its paused copy on %s does not resume: %s",
				rec.Name, mg.target, mg.source, api.AsError(err).Message)}
		}
		sc.Logf("the paused copy on %s is resumed", mg.source)
	}
	return &api.Error{Code: api.CodeOf(cause), Message: fmt.Sprintf("migration of %s to %s failed (reverted; it runs on %s): %s",
		rec.Name, mg.target, mg.source, why)}
}

// resumeCopy resumes rec's paused copy on node (a migrate-finish there;
// one that runs is left as it is).
func (m *Master) resumeCopy(ctx context.Context, sc *jobs.StepContext, step string, rec *keys.InstanceRecord, node string) error {
	_, err := m.stepCmd(ctx, sc, step, nodeCmd{Node: node, Kind: keys.CmdInstanceMigrateFinish, Instance: *rec,
		Params: keys.MigrateParams{Mode: keys.MigrateLive}, Timeout: 5 * time.Minute})
	return err
}

// settleSource asks the source what is left of the domain there once its
// hypervisor runs no job on it, retrying while the node cannot answer (its
// agent or libvirtd restarting) for up to migrateSettle.
func (m *Master) settleSource(ctx context.Context, sc *jobs.StepContext, mg *migration) (*keys.MigrateSettleOutput, error) {
	end := time.Now().Add(migrateSettle)
	for try := 1; ; try++ {
		out, err := m.stepCmd(ctx, sc, fmt.Sprintf("migrate-settle-%d", try), nodeCmd{Node: mg.source, Kind: keys.CmdInstanceMigrateSettle,
			Instance: *mg.rec, Timeout: cmdTimeoutMigrate})
		if err == nil {
			var st keys.MigrateSettleOutput
			if err := json.Unmarshal(out, &st); err != nil {
				return nil, fmt.Errorf("settle output of %s: %w", mg.source, err)
			}
			return &st, nil
		}
		if ctx.Err() != nil || time.Now().After(end) {
			return nil, err
		}
		sc.Logf("migrate-settle on %s: %s; asking again", mg.source, api.AsError(err).Message)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// pausedCopy reports a move cut short before the target's copy was
// resumed: the instance's domain is paused on another node than its
// primary (target, if set) and does not run on the primary (as published).
func (m *Master) pausedCopy(ctx context.Context, name, target string) (*migration, error) {
	rec, copies, err := m.recordAndCopies(ctx, name)
	if err != nil {
		return nil, err
	}
	if d := copies[rec.PrimaryNode]; d != nil && d.State == keys.DomainRunning {
		return nil, nil
	}
	for _, n := range sortedKeys(copies) {
		if n != rec.PrimaryNode && (target == "" || n == target) && copies[n].State == keys.DomainPaused {
			return &migration{rec: rec, source: rec.PrimaryNode, target: n}, nil
		}
	}
	return nil, nil
}

// recordAndCopies reads instance name's record afresh and the copies of
// its domain the nodes publish.
func (m *Master) recordAndCopies(ctx context.Context, name string) (*keys.InstanceRecord, map[string]*keys.DomainStatus, error) {
	rec, _, err := m.instanceRecord(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	copies, err := m.instanceCopies(ctx, rec)
	if err != nil {
		return nil, nil, err
	}
	return rec, copies, nil
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// migrateSettle is how long a failed migrate-source's settle is asked
// again while the source cannot answer (an agent restart, a libvirtd
// restart and its recovery of the domain) before the job gives up,
// resuming neither copy.
const migrateSettle = 2 * time.Minute

// revertMigration undoes a failed move's preparations (best effort, each
// logged): the target's copy goes, the target is demoted, one primary.
// The target's copy goes first: a paused one holds its DRBD devices open,
// which the demotion would refuse.
func (m *Master) revertMigration(ctx context.Context, sc *jobs.StepContext, mg *migration) {
	if err := m.forgetOn(ctx, sc, "revert", mg.rec, mg.target); err != nil {
		sc.Logf("revert: %v", api.AsError(err).Message)
	}
	if err := m.drbdSingle(ctx, sc, "revert", mg.rec, mg.source); err != nil {
		sc.Logf("revert: %v", api.AsError(err).Message)
	}
}

// migratedAlready reports the instance's migration when its domain runs on
// another node than its recorded primary (target, or any node when target
// is ""), nil when it does not; its record is read afresh.
func (m *Master) migratedAlready(ctx context.Context, name, target string) (*migration, error) {
	rec, copies, err := m.recordAndCopies(ctx, name)
	if err != nil {
		return nil, err
	}
	for n, d := range copies {
		if n != rec.PrimaryNode && (target == "" || n == target) && d.State == keys.DomainRunning {
			return &migration{rec: rec, source: rec.PrimaryNode, target: n}, nil
		}
	}
	return nil, nil
}

// migratedWait bounds how long a step waits for the target's agent to
// publish the domain it reported running (it publishes after answering).
const migratedWait = 20 * time.Second

// waitMigrated waits until the instance's domain is published running on
// another node than its primary (target, if set) and returns that
// migration; when it runs on its recorded primary and nowhere else (this
// step's record change was committed), target is the primary.
func (m *Master) waitMigrated(ctx context.Context, name, target string) (*migration, error) {
	deadline := time.Now().Add(migratedWait)
	for {
		mg, err := m.migratedAlready(ctx, name, target)
		if err != nil || mg != nil {
			return mg, err
		}
		rec, _, err := m.instanceRecord(ctx, name)
		if err != nil {
			return nil, err
		}
		if d, err := m.domainStatus(ctx, rec.PrimaryNode, name); err == nil && d != nil && d.State == keys.DomainRunning &&
			(target == "" || target == rec.PrimaryNode) {
			return &migration{rec: rec, source: rec.PrimaryNode, target: rec.PrimaryNode}, nil
		}
		if time.Now().After(deadline) {
			return nil, api.Errorf(api.CodeWrongState, "instance %s is not seen running on its migration target: `drover instance migrate --cleanup %s` resolves it", name, name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// instanceCopies is what every node publishes of the instance (domain or
// files) with its UUID, by node.
func (m *Master) instanceCopies(ctx context.Context, rec *keys.InstanceRecord) (map[string]*keys.DomainStatus, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.NodeStateRoot, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("read node states", err)
	}
	out := map[string]*keys.DomainStatus{}
	for _, kv := range resp.Kvs {
		node, tail, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), keys.NodeStateRoot), "/")
		if !ok || tail != "domains/"+rec.Name {
			continue
		}
		var d keys.DomainStatus
		if json.Unmarshal(kv.Value, &d) != nil || d.UUID != "" && rec.UUID != "" && d.UUID != rec.UUID {
			continue
		}
		out[node] = &d
	}
	return out, nil
}

// instanceTemplate is the template record the instance was installed from.
func (m *Master) instanceTemplate(ctx context.Context, rec *keys.InstanceRecord) (*keys.TemplateRecord, error) {
	if rec.OS == "" || rec.OSVersion == 0 {
		return nil, store.ErrNotFound
	}
	var t keys.TemplateRecord
	if _, err := store.GetJSON(ctx, m.client, keys.TemplateKey(rec.OS, rec.OSVersion), &t); err != nil {
		return nil, err
	}
	if t.Digest != rec.OSDigest {
		return nil, errors.New("template digest differs from the instance's")
	}
	return &t, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
