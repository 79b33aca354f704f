package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/workload"
	"github.com/drover-project/drover/revert"
)

// The node side of instance migration (docs/migration.md): prepare on the
// target, migrate on the source, finish on the target, forget on the node
// the instance left. Every command is idempotent.

// MigrationEndpoint is how other nodes' libvirtds reach this node's for a
// migration: URI of its libvirtd (qemu+tcp://ADDR:PORT/system) and Address
// for QEMU's migration and disk-copy streams.
type MigrationEndpoint struct {
	URI     string
	Address string
}

// isMigrateCommand reports whether kind is one of the migration commands.
func isMigrateCommand(kind string) bool {
	switch kind {
	case keys.CmdInstanceMigratePrepare, keys.CmdInstanceMigrate, keys.CmdInstanceMigrateFinish,
		keys.CmdInstanceMigrateForget, keys.CmdInstanceMigrateSettle, keys.CmdDiskDualPrimary:
		return true
	}
	return false
}

// runMigrate executes a migration command.
func (x *Executor) runMigrate(ctx context.Context, cmd keys.NodeCommand, progress func(string), log *slog.Logger) (any, error) {
	inst := cmd.Instance
	switch cmd.Kind {
	case keys.CmdInstanceMigratePrepare:
		var p keys.MigratePrepareParams
		if err := decode(cmd.Params, &p); err != nil {
			return nil, err
		}
		return x.migratePrepare(ctx, cmd, p, progress, log)
	case keys.CmdInstanceMigrate:
		var p keys.MigrateParams
		if err := decode(cmd.Params, &p); err != nil {
			return nil, err
		}
		return x.migrateSource(ctx, inst, p, progress, log)
	case keys.CmdInstanceMigrateFinish:
		var p keys.MigrateParams
		if err := decode(cmd.Params, &p); err != nil {
			return nil, err
		}
		return x.migrateFinish(ctx, inst, p, progress, log)
	case keys.CmdInstanceMigrateSettle:
		return x.migrateSettle(ctx, inst, progress)
	case keys.CmdInstanceMigrateForget:
		var p keys.MigrateForgetParams
		if len(cmd.Params) > 0 {
			if err := decode(cmd.Params, &p); err != nil {
				return nil, err
			}
		}
		return nil, x.migrateForget(ctx, inst, p.Running, progress)
	case keys.CmdDiskDualPrimary:
		var p keys.DualPrimaryParams
		if err := decode(cmd.Params, &p); err != nil {
			return nil, err
		}
		return nil, x.dualPrimary(ctx, inst, p)
	}
	return nil, api.Errorf(api.CodeWrongInput, "unknown command kind %q", cmd.Kind)
}

// paths are the domain's files on this node.
func (x *Executor) paths(inst keys.InstanceRecord) keys.MigrateTarget {
	s := x.spec(inst)
	t := keys.MigrateTarget{ConsoleLog: s.ConsoleLog, Kernel: s.Kernel, Initrd: s.Initrd}
	for _, d := range s.Disks {
		t.Disks = append(t.Disks, d.Path)
	}
	return t
}

// migratePrepare makes the instance's directory and disks on this node
// (the target) unless they are there, and answers where the domain goes.
func (x *Executor) migratePrepare(ctx context.Context, cmd keys.NodeCommand, p keys.MigratePrepareParams, progress func(string), log *slog.Logger) (*keys.MigrateTarget, error) {
	inst := cmd.Instance
	if inst.UUID == "" {
		return nil, api.Errorf(api.CodeWrongInput, "migrate %s: the command names no instance uuid", inst.Name)
	}
	if x.isContainer() {
		return nil, api.Errorf(api.CodeWrongInput, "migrate %s: containers (%s) do not migrate", inst.Name, x.drv.Name())
	}
	_, canMigrate := hv.As[hv.Migrator](x.drv)
	if x.drv.Name() != hv.KindWorkload && !canMigrate {
		return nil, api.Errorf(api.CodeWrongInput, "migrate %s: hypervisor %s cannot migrate", inst.Name, x.drv.Name())
	}
	look, err := x.look(ctx, inst.Name)
	if err != nil {
		return nil, err
	}
	switch {
	case look.Domain && !look.ownsDomain(inst.UUID):
		return nil, errOrphan(inst.Name, "domain", look.DomainUUID)
	case look.Files && !look.ownsFiles(inst.UUID):
		return nil, errOrphan(inst.Name, "instance files", look.FilesUUID)
	case look.Files:
		log.Info("migrate_prepare_files_kept")
	default:
		r := revert.New(log)
		defer r.Fail()
		if _, err := x.store.Prepare(inst.Name); err != nil {
			return nil, err
		}
		r.Add(func(context.Context) error { return x.store.Remove(inst.Name) })
		if err := x.writeOwner(inst.Name, inst, cmd.ID); err != nil {
			return nil, err
		}
		// Made as a create makes them, so that a direct-boot kernel is
		// here too; a live migration then copies the disks' contents
		// over what was installed.
		if _, err := x.install(ctx, cmd, inst.Name, progress, log); err != nil {
			return nil, err
		}
		r.Success()
	}
	t := x.paths(inst)
	if x.drv.Name() != hv.KindWorkload {
		if x.Migration.URI == "" || x.Migration.Address == "" {
			return nil, api.Errorf(api.CodeWrongState, "this node has no migration endpoint (agent --migration-uri and --migration-address)")
		}
		t.URI, t.Address = x.Migration.URI, x.Migration.Address
	}
	if p.Mode == keys.MigrateHibernate {
		t.StateFile = filepath.Join(x.store.InstanceDir(inst.Name), "hibernate.state")
	}
	return &t, nil
}

// pathMap maps this node's paths of the domain to the target's.
func pathMap(src, dst keys.MigrateTarget) (map[string]string, error) {
	if len(src.Disks) != len(dst.Disks) {
		return nil, api.Errorf(api.CodeWrongState, "the target has %d disks for the domain, the source %d", len(dst.Disks), len(src.Disks))
	}
	m := map[string]string{}
	for i := range src.Disks {
		m[src.Disks[i]] = dst.Disks[i]
	}
	for _, pr := range [][2]string{{src.ConsoleLog, dst.ConsoleLog}, {src.Kernel, dst.Kernel}, {src.Initrd, dst.Initrd}} {
		switch {
		case pr[0] == "":
		case pr[1] == "":
			return nil, api.Errorf(api.CodeWrongState, "the target has no file for %s", pr[0])
		default:
			m[pr[0]] = pr[1]
		}
	}
	return m, nil
}

// migrateSource moves the running domain away from this node.
func (x *Executor) migrateSource(ctx context.Context, inst keys.InstanceRecord, p keys.MigrateParams, progress func(string), log *slog.Logger) (*keys.MigrateSourceOutput, error) {
	start := time.Now()
	look, err := x.look(ctx, inst.Name)
	if err != nil {
		return nil, err
	}
	if !look.ownsDomain(inst.UUID) {
		return nil, api.Errorf(api.CodeUnknownEntity, "instance %s has no domain on this node (migrated already? `instance migrate --cleanup` finds out)", inst.Name)
	}
	if look.State != hv.StateRunning && look.State != hv.StateBlocked {
		return nil, api.Errorf(api.CodeWrongState, "instance %s is %s on this node, not running", inst.Name, look.State)
	}
	out := &keys.MigrateSourceOutput{Source: x.paths(inst)}
	if x.drv.Name() == hv.KindWorkload {
		// Never two writers: this one stops (its last record acknowledged)
		// before the target's starts, in the finish step.
		progress("stop the workload writer")
		if err := x.shutdown(ctx, inst.Name, 30*time.Second, progress); err != nil {
			return nil, err
		}
		if af, ok := hv.As[interface{ AckFile(string) string }](x.drv); ok {
			if a, err := workload.ReadAcks(af.AckFile(inst.Name)); err == nil {
				out.LastAck = a.Acked
			}
		}
		if err := x.drv.Undefine(ctx, inst.Name); err != nil && !errors.Is(err, hv.ErrNotFound) {
			return nil, err
		}
		log.Info("workload_handed_over", "last_ack", out.LastAck)
		out.Seconds = time.Since(start).Seconds()
		return out, nil
	}
	paths, err := pathMap(out.Source, p.Target)
	if err != nil {
		return nil, err
	}
	if p.Mode == keys.MigrateHibernate {
		sv, ok := hv.As[hv.Saver](x.drv)
		if !ok || p.Target.StateFile == "" {
			return nil, api.Errorf(api.CodeWrongInput, "hypervisor %s cannot hibernate a domain", x.drv.Name())
		}
		progress("save the domain's state to " + p.Target.StateFile)
		if err := sv.Save(ctx, inst.Name, p.Target.StateFile); err != nil {
			return nil, err
		}
		if err := x.drv.Undefine(ctx, inst.Name); err != nil && !errors.Is(err, hv.ErrNotFound) {
			return nil, err
		}
		out.Seconds = time.Since(start).Seconds()
		return out, nil
	}
	mg, ok := hv.As[hv.Migrator](x.drv)
	if !ok {
		return nil, api.Errorf(api.CodeWrongInput, "hypervisor %s cannot migrate", x.drv.Name())
	}
	if p.Target.URI == "" || p.Target.Address == "" {
		return nil, api.Errorf(api.CodeWrongInput, "migrate %s: no target libvirtd named", inst.Name)
	}
	opts := hv.MigrateOptions{
		Live: true, ListenAddress: p.Target.Address, MigrateURI: "tcp://" + p.Target.Address,
		CopyStorage: inst.DiskTemplate == "file" || inst.DiskTemplate == "plain",
		// DRBD is shared storage libvirt does not know as such.
		Unsafe: inst.DiskTemplate == "drbd", Paths: paths, Bandwidth: p.BandwidthMiB,
		// The target's copy stays paused until the master, sure this one
		// is gone, resumes it (migrate-finish): a libvirtd killed in the
		// middle cannot leave it running beside this one resumed by the
		// restarted libvirtd's recovery (docs/migration.md).
		Paused: true,
	}
	progress(fmt.Sprintf("live migration to %s (storage copy %v)", p.Target.URI, opts.CopyStorage))
	if err := mg.Migrate(ctx, inst.Name, p.Target.URI, opts); err != nil {
		return nil, err
	}
	out.Seconds = time.Since(start).Seconds()
	log.Info("migrated_out", "to", p.Target.URI, "seconds", out.Seconds)
	return out, nil
}

// migrateFinish makes sure the domain runs on this node (the target).
func (x *Executor) migrateFinish(ctx context.Context, inst keys.InstanceRecord, p keys.MigrateParams, progress func(string), log *slog.Logger) (*keys.MigrateFinishOutput, error) {
	if jw, ok := hv.As[hv.JobWaiter](x.drv); ok {
		// An incoming migration still under way (or a restarted
		// libvirtd's recovery of one) ends first: kept paused or gone.
		if err := jw.WaitIdle(ctx, inst.Name); err != nil {
			return nil, err
		}
	}
	look, err := x.look(ctx, inst.Name)
	if err != nil {
		return nil, err
	}
	if look.Domain && !look.ownsDomain(inst.UUID) {
		return nil, errOrphan(inst.Name, "domain", look.DomainUUID)
	}
	out := &keys.MigrateFinishOutput{}
	hibernated := p.Mode == keys.MigrateHibernate && x.drv.Name() != hv.KindWorkload
	switch {
	case look.Domain && look.State == hv.StatePaused && !hibernated:
		// A live migration leaves the target's copy paused (and a failed
		// one may leave the source's so): the master resumes it once it
		// knows no other copy runs.
		rs, ok := hv.As[hv.Resumer](x.drv)
		if !ok {
			return nil, api.Errorf(api.CodeWrongState, "instance %s is paused on this node and hypervisor %s cannot resume it", inst.Name, x.drv.Name())
		}
		progress("resume the domain")
		if err := rs.Resume(ctx, inst.Name); err != nil {
			return nil, err
		}
		log.Info("migrate_resumed")
	case look.Domain && look.State.Active():
	case x.drv.Name() == hv.KindWorkload:
		// Continues after the highest record on the (now primary) disk.
		progress("start the workload writer")
		if err := x.start(ctx, inst, log); err != nil {
			return nil, err
		}
	case hibernated:
		sv, ok := hv.As[hv.Saver](x.drv)
		if !ok {
			return nil, api.Errorf(api.CodeWrongInput, "hypervisor %s cannot restore a domain", x.drv.Name())
		}
		paths, err := pathMap(p.Source, x.paths(inst))
		if err != nil {
			return nil, err
		}
		if !look.Domain {
			if err := x.drv.Define(ctx, x.spec(inst)); err != nil && !errors.Is(err, hv.ErrAlreadyExists) {
				return nil, err
			}
		}
		progress("restore the domain from " + p.Target.StateFile)
		if err := sv.Restore(ctx, p.Target.StateFile, paths); err != nil {
			return nil, err
		}
	default:
		return nil, api.Errorf(api.CodeWrongState, "instance %s does not run on this node after the migration (state %q)", inst.Name, look.State)
	}
	if hibernated {
		_ = os.Remove(p.Target.StateFile)
	}
	st, err := x.drv.State(ctx, inst.Name)
	if err != nil {
		return nil, err
	}
	out.State = string(st)
	if p.Mode != keys.MigrateHibernate {
		if ms, ok := hv.As[hv.MigrationStatser](x.drv); ok {
			if s, err := ms.LastMigration(ctx, inst.Name); err == nil {
				out.TotalMs, out.DowntimeMs = s.Total.Milliseconds(), s.Downtime.Milliseconds()
				out.DataBytes, out.MemoryBytes, out.DiskBytes = s.DataBytes, s.MemoryBytes, s.DiskBytes
			} else {
				log.Info("migration_stats_unavailable", "err", err)
			}
		}
	}
	return out, nil
}

// migrateSettle answers, after a migration's source command failed, what
// is left of the instance's domain on this node (the source), once the
// hypervisor runs no job on it: a migration still under way, or the
// recovery a restarted libvirtd makes of one (which resumes, keeps paused
// or kills the domain), ends first.
func (x *Executor) migrateSettle(ctx context.Context, inst keys.InstanceRecord, progress func(string)) (*keys.MigrateSettleOutput, error) {
	if jw, ok := hv.As[hv.JobWaiter](x.drv); ok {
		progress("wait until the hypervisor runs no job on the domain")
		if err := jw.WaitIdle(ctx, inst.Name); err != nil {
			return nil, err
		}
	}
	look, err := x.look(ctx, inst.Name)
	if err != nil {
		return nil, err
	}
	out := &keys.MigrateSettleOutput{State: keys.DomainMissing}
	if look.Domain && look.ownsDomain(inst.UUID) {
		out.State = contractState(look.State)
		out.Active = look.State.Active()
	}
	return out, nil
}

// migrateForget removes what is left of the instance on a node that is not
// its primary: a domain that does not run (an incoming one of a failed
// migration is paused) and, for file and plain, its disks. A running domain
// is refused: it may be the only copy.
func (x *Executor) migrateForget(ctx context.Context, inst keys.InstanceRecord, running bool, progress func(string)) error {
	look, err := x.look(ctx, inst.Name)
	if err != nil {
		return err
	}
	if look.ownsDomain(inst.UUID) {
		switch look.State {
		case hv.StateRunning, hv.StateBlocked:
			if !running {
				return api.Errorf(api.CodeWrongState, "instance %s runs on this node: not removed", inst.Name)
			}
			progress("destroy the running second copy (the primary's copy runs)")
			if err := x.drv.Destroy(ctx, inst.Name); err != nil && !errors.Is(err, hv.ErrWrongState) {
				return err
			}
		case hv.StatePaused, hv.StateShutdown:
			progress("destroy the paused domain")
			if err := x.drv.Destroy(ctx, inst.Name); err != nil && !errors.Is(err, hv.ErrWrongState) {
				return err
			}
		}
		if err := x.drv.Undefine(ctx, inst.Name); err != nil && !errors.Is(err, hv.ErrNotFound) {
			return err
		}
	}
	switch inst.DiskTemplate {
	case "drbd":
		// The devices stay: this node is the mirror's other side.
		return nil
	case "plain":
		if x.Block != nil {
			for i := range inst.Disks {
				if err := x.Block.VG.Remove(ctx, lvName(inst.Name, i)); err != nil {
					return err
				}
			}
		}
	}
	if !look.ownsFiles(inst.UUID) {
		return nil
	}
	progress("delete the instance's files")
	return x.store.Remove(inst.Name)
}

// dualPrimary switches allow-two-primaries of a drbd disk's resource.
func (x *Executor) dualPrimary(ctx context.Context, inst keys.InstanceRecord, p keys.DualPrimaryParams) error {
	b := x.Block
	if b == nil || b.DRBD == nil {
		return api.Errorf(api.CodeWrongState, "this node has no DRBD")
	}
	if inst.DiskTemplate != "drbd" || p.Disk < 0 || p.Disk >= len(inst.Disks) || inst.Disks[p.Disk].DRBD == nil {
		return api.Errorf(api.CodeWrongInput, "instance %s has no drbd disk %d", inst.Name, p.Disk)
	}
	return b.DRBD.AllowTwoPrimaries(ctx, inst.Disks[p.Disk].DRBD.Resource, p.Allow)
}
