package allocator_test

import (
	"fmt"

	"github.com/drover-project/drover/allocator"
)

// Independent re-implementations of the invariants, so the properties do not
// trust the code they test.

func runningMem(in allocator.Instance) int64 {
	switch in.RunState {
	case allocator.StateAdminDown, allocator.StateAdminOffline, allocator.StateErrorDown, allocator.StateUserDown:
		return 0
	}
	return in.Mem
}

func localDisk(t allocator.DiskTemplate) bool {
	return t == allocator.TemplateDRBD || t == allocator.TemplatePlain || t == allocator.TemplateFile
}

// usage returns per node the memory and disk its instances take.
func usage(s allocator.Spec) (mem, disk map[string]int64) {
	mem, disk = map[string]int64{}, map[string]int64{}
	for _, in := range s.Instances {
		mem[in.Primary] += runningMem(in)
		if localDisk(in.Template) {
			disk[in.Primary] += in.Disk
			if in.Secondary != "" {
				disk[in.Secondary] += in.Disk
			}
		}
	}
	return mem, disk
}

// checkNoOvercommit: every node's instances fit in its memory and disk.
func checkNoOvercommit(s allocator.Spec) error {
	mem, disk := usage(s)
	for _, n := range s.Nodes {
		if n.Offline {
			continue
		}
		if n.NodeMem+mem[n.Name] > n.TotalMem {
			return fmt.Errorf("node %s: memory %d+%d > %d", n.Name, n.NodeMem, mem[n.Name], n.TotalMem)
		}
		if disk[n.Name] > n.TotalDisk {
			return fmt.Errorf("node %s: disk %d > %d", n.Name, disk[n.Name], n.TotalDisk)
		}
	}
	return nil
}

// checkPeers: DRBD instances have two different nodes, others one.
func checkPeers(s allocator.Spec) error {
	for _, in := range s.Instances {
		if in.Template == allocator.TemplateDRBD && (in.Secondary == "" || in.Secondary == in.Primary) {
			return fmt.Errorf("instance %s: primary %q secondary %q", in.Name, in.Primary, in.Secondary)
		}
	}
	return nil
}

// n1Failing returns the nodes that could not start the primaries of some
// failed peer whose secondaries they hold.
func n1Failing(s allocator.Spec) map[string]bool {
	mem, _ := usage(s)
	need := map[[2]string]int64{}
	for _, in := range s.Instances {
		if in.Template == allocator.TemplateDRBD && in.AutoBalance && in.Secondary != "" {
			need[[2]string{in.Secondary, in.Primary}] += runningMem(in)
		}
	}
	out := map[string]bool{}
	for _, n := range s.Nodes {
		free := n.TotalMem - n.NodeMem - mem[n.Name]
		for k, v := range need {
			if k[0] == n.Name && v > free {
				out[n.Name] = true
			}
		}
	}
	return out
}

// applyMove returns s with one move applied.
func applyMove(s allocator.Spec, m allocator.Move) (allocator.Spec, error) {
	for i := range s.Instances {
		if s.Instances[i].Name == m.Instance {
			if s.Instances[i].Primary != m.FromPrimary || s.Instances[i].Secondary != m.FromSecondary {
				return s, fmt.Errorf("move %s: instance is on %s:%s, not %s:%s", m.Instance,
					s.Instances[i].Primary, s.Instances[i].Secondary, m.FromPrimary, m.FromSecondary)
			}
			s.Instances[i].Primary, s.Instances[i].Secondary = m.Primary, m.Secondary
			return s, nil
		}
	}
	return s, fmt.Errorf("move of unknown instance %s", m.Instance)
}
