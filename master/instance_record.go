package master

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// checkInstance is the submit-time check of opcodes on an existing instance.
func (m *Master) checkInstance(ctx context.Context, name string) error {
	_, _, err := m.instanceRecord(ctx, name)
	return err
}

// updateRecord reads instance name, lets change modify it (returning false
// for no change) and commits it with the step's checkpoint.
func (m *Master) updateRecord(ctx context.Context, sc *jobs.StepContext, name string, change func(*keys.InstanceRecord) (bool, error)) (*keys.InstanceRecord, error) {
	rec, rev, err := m.instanceRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	changed, err := change(rec)
	if err != nil || !changed {
		return rec, err
	}
	put, err := store.PutJSON(keys.InstanceKey(name), rec)
	if err != nil {
		return nil, err
	}
	sc.If(store.Unchanged(keys.InstanceKey(name), rev))
	sc.Then(put)
	return rec, nil
}

// requireStopped refuses an instance that is marked up or whose domain runs.
func (m *Master) requireStopped(ctx context.Context, rec *keys.InstanceRecord, what string) error {
	if rec.AdminUp {
		return api.Errorf(api.CodeWrongState, "instance %s must be shut down to %s", rec.Name, what)
	}
	d, err := m.domainStatus(ctx, rec.PrimaryNode, rec.Name)
	if err != nil {
		return err
	}
	if domainUp(d) {
		return api.Errorf(api.CodeWrongState, "instance %s still runs on %s (ERROR_up); shut it down to %s", rec.Name, rec.PrimaryNode, what)
	}
	return nil
}

// newInstanceRecord is the record of instance p as an add job reserves it:
// on p.Node with hypervisor hv and template t, the NICs' MACs, marked as
// being created by job.
func newInstanceRecord(p api.InstanceAdd, hv string, t *keys.TemplateRecord, macs []string, job uint64) keys.InstanceRecord {
	rec := keys.InstanceRecord{
		Name: p.Name, UUID: uuid.NewString(), PrimaryNode: p.Node, OS: t.Name, OSVersion: t.Version,
		OSDigest: t.Digest, Hypervisor: hv, DiskTemplate: p.DiskTemplate, VCPUs: p.VCPUs,
		MemoryMiB: p.MemoryMiB, SSHKeys: p.SSHKeys, CreatedAt: time.Now().UTC(), CreatingJob: job,
		OSParams: p.OSParams, InstanceHA: p.InstanceHA,
	}
	for _, d := range p.Disks {
		rec.Disks = append(rec.Disks, keys.DiskSpec{SizeMiB: d.SizeMiB})
	}
	for i, n := range p.NICs {
		rec.NICs = append(rec.NICs, keys.NICSpec{MAC: macs[i], Link: n.Link})
	}
	return rec
}
