package rapi

import (
	"sort"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// ganetiHypervisor maps drover's hypervisor names onto Ganeti's (htools
// refuses names it does not know).
func ganetiHypervisor(hv string) string {
	switch hv {
	case "kvm", "lxc":
		return hv
	case "xen":
		return "xen-pvm"
	}
	return "fake"
}

// Ratios shown for drover's unlimited ones: 256 virtual CPUs per physical
// one (the most an instance may have), and one spindle use per spindle of
// the 2^20 a node has.
const (
	unlimitedVCPURatio    = float64(api.MaxInstanceVCPUs)
	unlimitedSpindleRatio = 1.0
)

// ipolicy is Ganeti's instance policy object built from the allocator's.
func ipolicy(p api.AllocatorPolicy) map[string]any {
	spec := func(s api.AllocatorSpec) map[string]any {
		return map[string]any{"memory-size": s.MemMiB, "cpu-count": s.CPUs, "disk-size": s.DiskMiB,
			"disk-count": s.DiskCount, "nic-count": s.NICCount, "spindle-use": s.SpindleUse}
	}
	// drover's 0 means unlimited; htools divides by the ratio (NaN scores),
	// so an unlimited ratio is shown as one no node can reach.
	vr, sr := p.VCPURatio, p.SpindleRatio
	if vr <= 0 {
		vr = unlimitedVCPURatio
	}
	if sr <= 0 {
		sr = unlimitedSpindleRatio
	}
	tmpls := p.Templates
	if tmpls == nil {
		tmpls = []string{}
	}
	return map[string]any{
		"minmax":         []any{map[string]any{"min": spec(p.Min), "max": spec(p.Max)}},
		"std":            spec(p.Std),
		"disk-templates": tmpls,
		"vcpu-ratio":     vr,
		"spindle-ratio":  sr,
	}
}

// masterNode is what /2/info calls the master: Ganeti's master is a node,
// drover's masters are not, and htools refuses a master that is not a node.
// It is the leading master if a node has its name, else the first node.
func masterNode(leader string, nodes []api.Node) string {
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n.Name == leader {
			return leader
		}
		names = append(names, n.Name)
	}
	if len(names) == 0 {
		return leader
	}
	sort.Strings(names)
	return names[0]
}

// getInfo answers /2/info (OpClusterQuery's result).
func (h *Mount) getInfo(c *gin.Context) {
	ctx := c.Request.Context()
	ci, err := h.b.ClusterInfo(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	nodes, err := h.b.ListNodes(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	view, err := h.b.AllocatorView(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	tags, err := h.b.ClusterTags(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	count := map[string]int{}
	for _, n := range nodes {
		if n.Hypervisor != "" {
			count[ganetiHypervisor(n.Hypervisor)]++
		}
	}
	enabled := []string{}
	for hv := range count {
		enabled = append(enabled, hv)
	}
	sort.Slice(enabled, func(i, j int) bool {
		if count[enabled[i]] != count[enabled[j]] {
			return count[enabled[i]] > count[enabled[j]]
		}
		return enabled[i] < enabled[j]
	})
	if len(enabled) == 0 {
		enabled = []string{"fake"}
	}
	ts := float64(ci.CreatedAt.UnixNano()) / 1e9
	ok(c, map[string]any{
		"name": ci.Name, "uuid": ci.UUID, "ctime": ts, "mtime": ts, "serial_no": 1,
		"master":                         masterNode(ci.Leader, nodes),
		"software_version":               ci.Version,
		"protocol_version":               2030000,
		"config_version":                 2030000,
		"os_api_version":                 20,
		"export_version":                 0,
		"vcs_version":                    "drover " + ci.Version,
		"architecture":                   []string{"64bit", "x86_64"},
		"default_hypervisor":             enabled[0],
		"enabled_hypervisors":            enabled,
		"enabled_disk_templates":         []string{api.DiskTemplateFile, api.DiskTemplateDiskless},
		"hvparams":                       map[string]any{},
		"os_hvp":                         map[string]any{},
		"beparams":                       map[string]any{"default": defaultBeparams()},
		"osparams":                       map[string]any{},
		"nicparams":                      map[string]any{"default": map[string]any{"mode": "bridged", "link": "", "vlan": ""}},
		"ndparams":                       ndparams(),
		"diskparams":                     map[string]any{},
		"ipolicy":                        ipolicy(view.Policy),
		"candidate_pool_size":            len(ci.Masters),
		"master_netdev":                  "",
		"master_netmask":                 32,
		"use_external_mip_script":        false,
		"volume_group_name":              nil,
		"drbd_usermode_helper":           nil,
		"file_storage_dir":               "",
		"shared_file_storage_dir":        "",
		"gluster_storage_dir":            "",
		"maintain_node_health":           false,
		"uid_pool":                       []any{},
		"default_iallocator":             "hail",
		"default_iallocator_params":      map[string]any{},
		"reserved_lvs":                   []any{},
		"primary_ip_version":             4,
		"prealloc_wipe_disks":            false,
		"hidden_os":                      []any{},
		"blacklisted_os":                 []any{},
		"mac_prefix":                     ci.MACPrefix,
		"tags":                           tags,
		"enabled_user_shutdown":          false,
		"modify_etc_hosts":               false,
		"modify_ssh_setup":               false,
		"install_image":                  "",
		"zeroing_image":                  "",
		"compression_tools":              []string{"gzip"},
		"instance_communication_network": "",
	})
}

// defaultBeparams are the backend parameters an instance gets when the
// create request gives none (Ganeti's defaults).
func defaultBeparams() map[string]any {
	return map[string]any{"maxmem": defaultMemoryMiB, "minmem": defaultMemoryMiB, "memory": defaultMemoryMiB,
		"vcpus": defaultVCPUs, "auto_balance": true, "always_failover": false, "spindle_use": 1}
}

// ndparams are the node parameters htools reads: no exclusive storage, and
// the spindle count drover's allocator uses.
func ndparams() map[string]any {
	return map[string]any{"exclusive_storage": false, "spindle_count": 1 << 20, "oob_program": "",
		"ovs": false, "ovs_name": "switch1", "ovs_link": "", "ssh_port": 22, "cpu_speed": 1.0}
}

// getOS answers /2/os: the templates' names.
func (h *Mount) getOS(c *gin.Context) {
	ts, err := h.b.ListTemplates(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	seen := map[string]bool{}
	out := []string{}
	for _, t := range ts {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	ok(c, out)
}
