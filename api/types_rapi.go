package api

// Tag opcode and limits (gnt-* add-tags/remove-tags, Ganeti's OpTagsSet and
// OpTagsDel).
const (
	OpTagsModify = "tags.modify" // TagsModify

	// Tag kinds.
	TagKindCluster  = "cluster"
	TagKindNode     = "node"
	TagKindInstance = "instance"
)

// TagsModify is the params of tags.modify: add and remove tags of the
// cluster (Name empty), a node or an instance.
type TagsModify struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name,omitempty"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// Validate checks the kind, the name and each tag (as node add checks tags;
// at most MaxTags on an object).
func (t TagsModify) Validate() error {
	switch t.Kind {
	case TagKindCluster:
		if t.Name != "" {
			return Errorf(CodeWrongInput, "cluster tags take no name")
		}
	case TagKindNode, TagKindInstance:
		if err := ValidHostname(t.Name); err != nil {
			return err
		}
	default:
		return Errorf(CodeWrongInput, "tag kind %s: want cluster, node or instance", quoteShort(t.Kind))
	}
	if len(t.Add)+len(t.Remove) == 0 {
		return Errorf(CodeWrongInput, "no tags given")
	}
	if err := validTags(t.Add); err != nil {
		return err
	}
	return validTags(t.Remove)
}

// PasswordSet is the body of PUT /api/v1/users/{name}/password.
type PasswordSet struct {
	Password string `json:"password"`
}

// Password limits: bcrypt reads at most 72 bytes.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 72
)

// Validate checks the password's length.
func (p PasswordSet) Validate() error {
	if len(p.Password) < MinPasswordLength || len(p.Password) > MaxPasswordLength {
		return Errorf(CodeWrongInput, "password: want %d..%d bytes", MinPasswordLength, MaxPasswordLength)
	}
	return nil
}

// AllocatorView is the cluster as the allocator sees it for placement:
// node capacities after what recorded instances use, and the policy.
type AllocatorView struct {
	Nodes  []AllocatorNode `json:"nodes"`
	Policy AllocatorPolicy `json:"policy"`
}

// AllocatorNode is one node's capacity (MiB). Offline nodes (marked offline
// or unreachable) and drained ones (drained, not vm_capable, failed
// hypervisor) take no instances.
type AllocatorNode struct {
	Name         string `json:"name"`
	TotalMemMiB  int64  `json:"total_mem_mib"`
	NodeMemMiB   int64  `json:"node_mem_mib"`
	FreeMemMiB   int64  `json:"free_mem_mib"`
	TotalDiskMiB int64  `json:"total_disk_mib"`
	FreeDiskMiB  int64  `json:"free_disk_mib"`
	CPUs         int    `json:"cpus"`
	Spindles     int    `json:"spindles"`
	Offline      bool   `json:"offline"`
	Drained      bool   `json:"drained"`
}

// AllocatorSpec is an instance spec of a policy (sizes MiB).
type AllocatorSpec struct {
	MemMiB     int64 `json:"mem_mib"`
	CPUs       int   `json:"cpus"`
	DiskMiB    int64 `json:"disk_mib"`
	DiskCount  int   `json:"disk_count"`
	NICCount   int   `json:"nic_count"`
	SpindleUse int   `json:"spindle_use"`
}

// AllocatorPolicy is the instance policy the allocator applies.
type AllocatorPolicy struct {
	Std          AllocatorSpec `json:"std"`
	Min          AllocatorSpec `json:"min"`
	Max          AllocatorSpec `json:"max"`
	Templates    []string      `json:"templates"`
	VCPURatio    float64       `json:"vcpu_ratio"`
	SpindleRatio float64       `json:"spindle_ratio"`
}
