package rapi

import (
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// Defaults of a create request without beparams (Ganeti's cluster defaults).
const (
	defaultMemoryMiB = 128
	defaultVCPUs     = 1
)

// instanceJSON is an instance with Ganeti's I_FIELDS (and beparams.memory,
// as Ganeti adds it).
func instanceJSON(in api.Instance) map[string]any {
	running := in.OperState == "running" || in.OperState == "paused"
	sizes, spindles, dnames, duuids := []int64{}, []any{}, []any{}, []any{}
	var usage int64
	for _, d := range in.Disks {
		sizes = append(sizes, d.SizeMiB)
		spindles, dnames, duuids = append(spindles, nil), append(dnames, nil), append(duuids, nil)
		usage += d.SizeMiB
	}
	macs, links, modes, nulls := []string{}, []string{}, []string{}, []any{}
	for _, n := range in.NICs {
		macs, links, modes, nulls = append(macs, n.MAC), append(links, n.Link), append(modes, "bridged"), append(nulls, nil)
	}
	tags := in.Tags
	if tags == nil {
		tags = []string{}
	}
	var operRAM, operVCPUs any
	if running {
		operRAM, operVCPUs = in.MemoryMiB, in.VCPUs
	}
	ts := float64(in.CreatedAt.UnixNano()) / 1e9
	be := map[string]any{"maxmem": in.MemoryMiB, "minmem": in.MemoryMiB, "memory": in.MemoryMiB,
		"vcpus": in.VCPUs, "auto_balance": true, "always_failover": false, "spindle_use": 1}
	return map[string]any{
		"name": in.Name, "uuid": in.UUID, "admin_state": in.AdminState, "admin_up": in.AdminState == "up",
		"os": in.OS, "hypervisor": ganetiHypervisor(in.Hypervisor),
		"pnode": in.PrimaryNode, "snodes": append([]string{}, in.SecondaryNodes...), "disk_template": in.DiskTemplate,
		"nic.ips": nulls, "nic.macs": macs, "nic.modes": modes, "nic.uuids": nulls, "nic.names": nulls,
		"nic.links": links, "nic.networks": nulls, "nic.networks.names": nulls, "nic.bridges": links,
		"network_port": nil,
		"disk.sizes":   sizes, "disk.spindles": spindles, "disk_usage": usage, "disk.uuids": duuids, "disk.names": dnames,
		"beparams": be, "hvparams": map[string]any{},
		"oper_state": running, "oper_ram": operRAM, "oper_vcpus": operVCPUs, "status": in.Status,
		"custom_hvparams": map[string]any{}, "custom_beparams": map[string]any{}, "custom_nicparams": []any{},
		"ctime": ts, "mtime": ts, "serial_no": 1, "tags": tags,
	}
}

func (h *Mount) listInstances(c *gin.Context) {
	bk, err := bulk(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	insts, err := h.b.ListInstances(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	sortInstances(insts)
	out := []any{}
	for _, in := range insts {
		if bk {
			out = append(out, instanceJSON(in))
		} else {
			out = append(out, map[string]any{"id": in.Name, "uri": "/2/instances/" + in.Name})
		}
	}
	ok(c, out)
}

func (h *Mount) getInstance(c *gin.Context) {
	in, err := h.b.GetInstance(c.Request.Context(), c.Param("name"))
	if err != nil {
		h.fail(c, err)
		return
	}
	ok(c, instanceJSON(*in))
}

func (h *Mount) deleteInstance(c *gin.Context) {
	h.submit(c, op(api.OpInstanceRemove, api.InstanceName{Name: c.Param("name")}))
}

func (h *Mount) startupInstance(c *gin.Context) {
	if err := refuseNoRemember(c); err != nil {
		h.fail(c, err)
		return
	}
	h.submit(c, op(api.OpInstanceStartup, api.InstanceStartup{Name: c.Param("name")}))
}

// shutdownInstance: the body may give "timeout" in seconds.
func (h *Mount) shutdownInstance(c *gin.Context) {
	if err := refuseNoRemember(c); err != nil {
		h.fail(c, err)
		return
	}
	var req map[string]any
	if err := body(c, &req); err != nil {
		h.fail(c, err)
		return
	}
	p := api.InstanceShutdown{Name: c.Param("name")}
	if t, found := req["timeout"]; found {
		secs, err := number(t, "timeout")
		if err != nil {
			h.fail(c, err)
			return
		}
		if secs < 0 {
			h.fail(c, wrongInput("timeout %d: want seconds >= 0", secs))
			return
		}
		p.Timeout = (time.Duration(secs) * time.Second).String()
	}
	h.submit(c, op(api.OpInstanceShutdown, p))
}

// rebootInstance: drover has one kind of reboot; soft, hard and full are
// all accepted.
func (h *Mount) rebootInstance(c *gin.Context) {
	switch t := c.DefaultQuery("type", "hard"); t {
	case "soft", "hard", "full":
	default:
		h.fail(c, wrongInput("reboot type %q: want soft, hard or full", t))
		return
	}
	h.submit(c, op(api.OpInstanceReboot, api.InstanceName{Name: c.Param("name")}))
}

// reinstallInstance takes Ganeti's body {os, start, osparams} (or the legacy
// query ?os=&nostartup=). drover reinstalls only stopped instances and checks
// that at submit, so a running instance is refused (wrong_state) rather than
// stopped first as Ganeti does.
func (h *Mount) reinstallInstance(c *gin.Context) {
	var req struct {
		OS       *string        `json:"os"`
		Start    *bool          `json:"start"`
		OSParams map[string]any `json:"osparams"`
	}
	if err := body(c, &req); err != nil {
		h.fail(c, err)
		return
	}
	start := req.Start == nil || *req.Start
	os := ""
	if req.OS != nil {
		os = *req.OS
	}
	if q, found := c.GetQuery("os"); found {
		os = q
	}
	if no, err := boolQuery(c, "nostartup"); err != nil {
		h.fail(c, err)
		return
	} else if no {
		start = false
	}
	if len(req.OSParams) > 0 {
		h.fail(c, wrongInput("osparams are not supported by drover's templates"))
		return
	}
	name := c.Param("name")
	ops := []api.OpCode{op(api.OpInstanceReinstall, api.InstanceReinstall{Name: name, ReinstallOptions: api.ReinstallOptions{OS: os}})}
	if start {
		ops = append(ops, op(api.OpInstanceStartup, api.InstanceStartup{Name: name}))
	}
	h.submit(c, ops...)
}

func (h *Mount) renameInstance(c *gin.Context) {
	var req struct {
		NewName string `json:"new_name"`
	}
	if err := body(c, &req); err != nil {
		h.fail(c, err)
		return
	}
	if req.NewName == "" {
		h.fail(c, wrongInput("new_name is required"))
		return
	}
	h.submit(c, op(api.OpInstanceRename, api.InstanceRename{Name: c.Param("name"), RenameOptions: api.RenameOptions{NewName: req.NewName}}))
}

// growDisk answers POST /2/instances/I/disk/N/grow {amount, absolute}.
func (h *Mount) growDisk(c *gin.Context) {
	var req map[string]any
	if err := body(c, &req); err != nil {
		h.fail(c, err)
		return
	}
	idx, err := number(c.Param("disk"), "disk index")
	if err != nil {
		h.fail(c, err)
		return
	}
	amount, err := number(req["amount"], "amount")
	if err != nil {
		h.fail(c, err)
		return
	}
	name := c.Param("name")
	if abs, _ := req["absolute"].(bool); abs {
		in, err := h.b.GetInstance(c.Request.Context(), name)
		if err != nil {
			h.fail(c, err)
			return
		}
		if idx < 0 || int(idx) >= len(in.Disks) {
			h.fail(c, wrongInput("instance %s has no disk %d", name, idx))
			return
		}
		amount -= in.Disks[idx].SizeMiB
		if amount <= 0 {
			h.fail(c, wrongInput("absolute size is not larger than disk %d's %d MiB (disks only grow)", idx, in.Disks[idx].SizeMiB))
			return
		}
	}
	h.submit(c, op(api.OpInstanceGrowDisk, api.InstanceGrowDisk{Name: name,
		GrowDiskOptions: api.GrowDiskOptions{Disk: int(idx), AmountMiB: amount}}))
}

// refuseNoRemember: drover always records the admin state of a startup or
// shutdown.
func refuseNoRemember(c *gin.Context) error {
	no, err := boolQuery(c, "no_remember")
	if err != nil {
		return err
	}
	if no {
		return wrongInput("no_remember is not supported by drover: startup and shutdown always record the admin state")
	}
	return nil
}

func sortInstances(in []api.Instance) {
	sort.Slice(in, func(i, j int) bool { return in[i].Name < in[j].Name })
}
