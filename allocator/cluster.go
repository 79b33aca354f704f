package allocator

import (
	"fmt"
	"slices"
)

// DiskTemplate is an instance's storage layout, named as Ganeti names it.
type DiskTemplate string

// Disk templates known to the allocator.
const (
	TemplateDiskless   DiskTemplate = "diskless"
	TemplateFile       DiskTemplate = "file"
	TemplateSharedFile DiskTemplate = "sharedfile"
	TemplatePlain      DiskTemplate = "plain"
	TemplateBlock      DiskTemplate = "blockdev"
	TemplateDRBD       DiskTemplate = "drbd"
	TemplateRBD        DiskTemplate = "rbd"
	TemplateExt        DiskTemplate = "ext"
	TemplateGluster    DiskTemplate = "gluster"
)

// Valid reports whether t is a known disk template.
func (t DiskTemplate) Valid() bool {
	switch t {
	case TemplateDiskless, TemplateFile, TemplateSharedFile, TemplatePlain,
		TemplateBlock, TemplateDRBD, TemplateRBD, TemplateExt, TemplateGluster:
		return true
	}
	return false
}

// Mirrored reports whether the template keeps a copy on a secondary node.
func (t DiskTemplate) Mirrored() bool { return t == TemplateDRBD }

// usesLocalDisk reports whether the template takes space from the node's disk.
func (t DiskTemplate) usesLocalDisk() bool {
	return t == TemplatePlain || t == TemplateFile || t == TemplateDRBD
}

// Run states, as in the htools text format.
const (
	StateRunning       = "running"
	StateErrorUp       = "ERROR_up"
	StateErrorDown     = "ERROR_down"
	StateAdminDown     = "ADMIN_down"
	StateAdminOffline  = "ADMIN_offline"
	StateUserDown      = "USER_down"
	StateNodeDown      = "ERROR_nodedown"
	StateNodeOffline   = "ERROR_nodeoffline"
	StateErrorWrongNod = "ERROR_wrongnode"
)

// ValidRunState reports whether s is a known run state.
func ValidRunState(s string) bool {
	switch s {
	case StateRunning, StateErrorUp, StateErrorDown, StateAdminDown, StateAdminOffline,
		StateUserDown, StateNodeDown, StateNodeOffline, StateErrorWrongNod:
		return true
	}
	return false
}

// usesMemory reports whether an instance in run state s holds memory on its primary.
func usesMemory(s string) bool {
	switch s {
	case StateAdminDown, StateAdminOffline, StateErrorDown, StateUserDown:
		return false
	}
	return true
}

// Group is a node group.
type Group struct {
	Name        string
	UUID        string
	AllocPolicy string // preferred, last_resort or unallocable
	Tags        []string
	Networks    []string
	Policy      *IPolicy // nil: the cluster policy applies
}

// ISpec is one instance specification (sizes in MiB).
type ISpec struct {
	Mem        int64
	CPUs       int
	Disk       int64
	DiskCount  int
	NICCount   int
	SpindleUse int
}

// MinMax bounds instance specs.
type MinMax struct{ Min, Max ISpec }

// IPolicy is an instance policy: spec bounds, allowed templates and ratios.
type IPolicy struct {
	Std          ISpec
	MinMax       []MinMax
	Templates    []DiskTemplate
	VCPURatio    float64 // 0: unlimited
	SpindleRatio float64
}

// DefaultIPolicy returns the policy Ganeti uses when none is given.
func DefaultIPolicy() IPolicy {
	return IPolicy{
		Std: ISpec{Mem: 128, CPUs: 1, Disk: 1024, DiskCount: 1, NICCount: 1, SpindleUse: 1},
		MinMax: []MinMax{{
			Min: ISpec{Mem: 128, CPUs: 1, Disk: 1024, DiskCount: 1, NICCount: 1, SpindleUse: 1},
			Max: ISpec{Mem: 32768, CPUs: 8, Disk: 1024 * 1024, DiskCount: 16, NICCount: 8, SpindleUse: 12},
		}},
		Templates: []DiskTemplate{TemplateDRBD, TemplatePlain, TemplateFile, TemplateSharedFile,
			TemplateBlock, TemplateRBD, TemplateExt, TemplateDiskless, TemplateGluster},
		VCPURatio:    4,
		SpindleRatio: 32,
	}
}

// Node is one node as the snapshot sees it. Sizes are MiB.
type Node struct {
	Name      string
	Group     string // group name
	TotalMem  int64
	NodeMem   int64 // memory used by the node itself
	FreeMem   int64
	TotalDisk int64
	FreeDisk  int64
	CPUs      int
	Spindles  int
	Offline   bool
	Drained   bool
	Master    bool
	Tags      []string
}

// Instance is one instance as the snapshot sees it.
type Instance struct {
	Name        string
	Mem         int64
	Disk        int64
	VCPUs       int
	Template    DiskTemplate
	Primary     string
	Secondary   string // "" when not mirrored
	Tags        []string
	RunState    string
	AutoBalance bool
	SpindleUse  int
}

// Spec is the plain data a Cluster is built from.
type Spec struct {
	Groups    []Group
	Nodes     []Node
	Instances []Instance
	Tags      []string // cluster tags
	Policy    IPolicy  // cluster policy
}

// Cluster is an immutable snapshot. Build one with NewCluster; it is safe for
// concurrent use and never changes.
type Cluster struct {
	spec   Spec
	nodeIx map[string]int
	instIx map[string]int
	grpIx  map[string]int
}

// NewCluster validates s and returns a snapshot holding a deep copy of it.
func NewCluster(s Spec) (*Cluster, error) {
	c := &Cluster{spec: cloneSpec(s), nodeIx: map[string]int{}, instIx: map[string]int{}, grpIx: map[string]int{}}
	for i, g := range c.spec.Groups {
		if g.Name == "" {
			return nil, fmt.Errorf("%w: group %d has no name", ErrInvalidCluster, i)
		}
		if _, dup := c.grpIx[g.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate group %q", ErrInvalidCluster, g.Name)
		}
		c.grpIx[g.Name] = i
	}
	for i, n := range c.spec.Nodes {
		if n.Name == "" {
			return nil, fmt.Errorf("%w: node %d has no name", ErrInvalidCluster, i)
		}
		if _, dup := c.nodeIx[n.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate node %q", ErrInvalidCluster, n.Name)
		}
		if _, ok := c.grpIx[n.Group]; !ok && len(c.spec.Groups) > 0 {
			return nil, fmt.Errorf("%w: node %q in unknown group %q", ErrInvalidCluster, n.Name, n.Group)
		}
		if n.TotalMem < 0 || n.FreeMem < 0 || n.NodeMem < 0 || n.TotalDisk < 0 || n.FreeDisk < 0 || n.CPUs < 0 {
			return nil, fmt.Errorf("%w: node %q has negative resources", ErrInvalidCluster, n.Name)
		}
		c.nodeIx[n.Name] = i
	}
	for i, in := range c.spec.Instances {
		if in.Name == "" {
			return nil, fmt.Errorf("%w: instance %d has no name", ErrInvalidCluster, i)
		}
		if _, dup := c.instIx[in.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate instance %q", ErrInvalidCluster, in.Name)
		}
		if _, ok := c.nodeIx[in.Primary]; !ok {
			return nil, fmt.Errorf("%w: instance %q on unknown primary %q", ErrInvalidCluster, in.Name, in.Primary)
		}
		if in.Secondary != "" {
			if _, ok := c.nodeIx[in.Secondary]; !ok {
				return nil, fmt.Errorf("%w: instance %q on unknown secondary %q", ErrInvalidCluster, in.Name, in.Secondary)
			}
			if in.Secondary == in.Primary {
				return nil, fmt.Errorf("%w: instance %q has the same primary and secondary %q", ErrInvalidCluster, in.Name, in.Primary)
			}
		}
		if in.Mem < 0 || in.Disk < 0 || in.VCPUs < 0 {
			return nil, fmt.Errorf("%w: instance %q has negative resources", ErrInvalidCluster, in.Name)
		}
		if !in.Template.Valid() {
			return nil, fmt.Errorf("%w: instance %q has unknown disk template %q", ErrInvalidCluster, in.Name, in.Template)
		}
		c.instIx[in.Name] = i
	}
	return c, nil
}

// Spec returns a deep copy of the data the snapshot holds.
func (c *Cluster) Spec() Spec { return cloneSpec(c.spec) }

// Nodes returns a copy of the nodes, in snapshot order.
func (c *Cluster) Nodes() []Node { return cloneSpec(Spec{Nodes: c.spec.Nodes}).Nodes }

// Instances returns a copy of the instances, in snapshot order.
func (c *Cluster) Instances() []Instance {
	return cloneSpec(Spec{Instances: c.spec.Instances}).Instances
}

// Node returns the named node.
func (c *Cluster) Node(name string) (Node, bool) {
	i, ok := c.nodeIx[name]
	if !ok {
		return Node{}, false
	}
	return cloneSpec(Spec{Nodes: c.spec.Nodes[i : i+1]}).Nodes[0], true
}

// Instance returns the named instance.
func (c *Cluster) Instance(name string) (Instance, bool) {
	i, ok := c.instIx[name]
	if !ok {
		return Instance{}, false
	}
	return cloneSpec(Spec{Instances: c.spec.Instances[i : i+1]}).Instances[0], true
}

// policyFor returns the policy of the named group, or the cluster's.
func (c *Cluster) policyFor(group string) *IPolicy {
	if i, ok := c.grpIx[group]; ok && c.spec.Groups[i].Policy != nil {
		return c.spec.Groups[i].Policy
	}
	return &c.spec.Policy
}

func (c *Cluster) groupUnallocable(group string) bool {
	i, ok := c.grpIx[group]
	return ok && c.spec.Groups[i].AllocPolicy == "unallocable"
}

func cloneSpec(s Spec) Spec {
	out := Spec{Tags: slices.Clone(s.Tags), Policy: clonePolicy(s.Policy)}
	if s.Groups != nil {
		out.Groups = make([]Group, len(s.Groups))
		for i, g := range s.Groups {
			g.Tags = slices.Clone(g.Tags)
			g.Networks = slices.Clone(g.Networks)
			if g.Policy != nil {
				p := clonePolicy(*g.Policy)
				g.Policy = &p
			}
			out.Groups[i] = g
		}
	}
	if s.Nodes != nil {
		out.Nodes = make([]Node, len(s.Nodes))
		for i, n := range s.Nodes {
			n.Tags = slices.Clone(n.Tags)
			out.Nodes[i] = n
		}
	}
	if s.Instances != nil {
		out.Instances = make([]Instance, len(s.Instances))
		for i, in := range s.Instances {
			in.Tags = slices.Clone(in.Tags)
			out.Instances[i] = in
		}
	}
	return out
}

func clonePolicy(p IPolicy) IPolicy {
	p.MinMax = slices.Clone(p.MinMax)
	p.Templates = slices.Clone(p.Templates)
	return p
}
