package master

import (
	"context"
	"errors"
	"fmt"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Planning node evacuate, node migrate/failover and cluster balance: the
// allocator's plan on a snapshot of the live cluster (allocSpec with the
// DRBD secondaries filled in), turned into the opcodes that carry each move
// out (expandMoves). See docs/drbd.md, "Node evacuation".

// moveSnapshot is the allocator's view of the cluster with every drbd
// instance's secondary, and the instance records by name.
func (m *Master) moveSnapshot(ctx context.Context) (*allocator.Cluster, map[string]keys.InstanceRecord, error) {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return nil, nil, err
	}
	statuses := map[string]*nodeAgentStatus{}
	for name := range v.nodes {
		if !v.alive[name] {
			continue
		}
		var st keys.NodeStatus
		if _, err := store.GetJSON(ctx, m.client, keys.NodeStatusKey(name), &st); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, nil, unavailable("read node status", err)
		}
		statuses[name] = &nodeAgentStatus{Hypervisor: st.Hypervisor, HypervisorOK: st.HypervisorOK, Resources: st.Resources}
	}
	spec := allocSpec(v, statuses, "")
	recs := map[string]keys.InstanceRecord{}
	for _, r := range v.instances {
		recs[r.Name] = r
	}
	for i, in := range spec.Instances {
		if r := recs[in.Name]; r.DiskTemplate == "drbd" {
			spec.Instances[i].Secondary = replSecondary(r)
		}
	}
	c, err := allocator.NewCluster(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("allocator snapshot: %w", err)
	}
	return c, recs, nil
}

// running: the instance is marked up and its domain runs (it migrates;
// otherwise it fails over).
func (m *Master) running(ctx context.Context, rec keys.InstanceRecord) bool {
	if !rec.AdminUp {
		return false
	}
	d, err := m.domainStatus(ctx, rec.PrimaryNode, rec.Name)
	return err == nil && domainUp(d)
}

// moveOps are the opcodes of one allocator move of rec: "f" is
// instance.migrate when the instance runs, else instance.failover (both to
// the secondary at the time they run); "r:N" is instance.replace-disks -n N.
func (m *Master) moveOps(ctx context.Context, rec keys.InstanceRecord, mv allocator.Move) ([]api.OpCode, error) {
	primary := func() api.OpCode {
		if m.running(ctx, rec) {
			return api.OpCode{Kind: opInstanceMigrateKind, Params: nameParams(rec.Name)}
		}
		return api.OpCode{Kind: opInstanceFailoverKind, Params: nameParams(rec.Name)}
	}
	replace := func(node string) api.OpCode {
		return api.MustOp(api.OpInstanceReplaceDisks, api.InstanceReplaceDisks{Name: rec.Name,
			ReplaceDisksOptions: api.ReplaceDisksOptions{Mode: api.ReplaceNewSecondary, NewSecondary: node}})
	}
	switch mv.Kind {
	case allocator.MoveFailover:
		return []api.OpCode{primary()}, nil
	case allocator.MoveReplaceSecondary:
		return []api.OpCode{replace(mv.Secondary)}, nil
	case allocator.MoveFailoverReplace:
		return []api.OpCode{primary(), replace(mv.Secondary)}, nil
	case allocator.MoveReplaceFailover:
		return []api.OpCode{replace(mv.Primary), primary()}, nil
	case allocator.MoveFailReplaceFail:
		return []api.OpCode{primary(), replace(mv.Primary), primary()}, nil
	}
	return nil, api.Errorf(api.CodeWrongInput, "move %q of %s cannot be carried out", mv.Kind, rec.Name)
}

// The opcode kinds of the primary moves (instance.migrate of the migrate
// work, instance.failover of the drbd work); named here so that this file
// does not depend on their params types (only the name is set).
const (
	opInstanceMigrateKind  = "instance.migrate"
	opInstanceFailoverKind = "instance.failover"
)

func nameParams(name string) []byte { return []byte(fmt.Sprintf("{%q:%q}", "name", name)) }

func moveReport(mv allocator.Move) api.MoveReport {
	return api.MoveReport{Instance: mv.Instance, Kind: string(mv.Kind), Short: mv.Short(), Primary: mv.Primary,
		Secondary: mv.Secondary, Note: mv.Note}
}
