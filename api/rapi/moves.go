package rapi

import (
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// Ganeti's replace-disks, node evacuate and node migrate resources, mapped
// to drover's opcodes (docs/rapi.md): the answer is the job id, as Ganeti's
// (node-evac-res1: one job for the evacuation).

// rapiParams reads the parameters from the body, or from the query string
// when the body is empty (older clients send them there).
func rapiParams(c *gin.Context, names ...string) (map[string]any, error) {
	req := map[string]any{}
	if err := body(c, &req); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := req[n]; !ok {
			if v, found := c.GetQuery(n); found {
				req[n] = v
			}
		}
	}
	return req, nil
}

func stringParam(req map[string]any, name string) (string, error) {
	v, ok := req[name]
	if !ok || v == nil {
		return "", nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", wrongInput("Parameter '%s' must be a string, not %v", name, v)
	}
	return s, nil
}

// refuseParams: drover has no iallocator choice per request (its allocator
// always plans), no early release, no disk subsets.
func refuseParams(req map[string]any, names ...string) error {
	for _, n := range names {
		if v, ok := req[n]; ok && v != nil && v != "" && v != false {
			return wrongInput("parameter %s is not supported by drover (see docs/rapi.md)", n)
		}
	}
	return nil
}

var rapiReplaceModes = map[string]string{
	"replace_on_primary": api.ReplaceOnPrimary, "replace_on_secondary": api.ReplaceOnSecondary,
	"replace_new_secondary": api.ReplaceNewSecondary, "replace_auto": api.ReplaceAuto,
}

// replaceDisks answers POST /2/instances/I/replace-disks {mode,
// remote_node}.
func (h *Mount) replaceDisks(c *gin.Context) {
	req, err := rapiParams(c, "mode", "remote_node", "iallocator", "disks", "early_release")
	if err != nil {
		h.fail(c, err)
		return
	}
	mode, err := stringParam(req, "mode")
	if err == nil {
		err = refuseParams(req, "iallocator", "disks", "early_release")
	}
	remote := ""
	if err == nil {
		remote, err = stringParam(req, "remote_node")
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	m, ok := rapiReplaceModes[mode]
	if !ok {
		h.fail(c, wrongInput("Parameter 'mode' must be one of replace_on_primary, replace_on_secondary, replace_new_secondary, replace_auto, not %q", mode))
		return
	}
	p := api.InstanceReplaceDisks{Name: c.Param("name"), ReplaceDisksOptions: api.ReplaceDisksOptions{Mode: m, NewSecondary: remote}}
	if err := p.Validate(); err != nil {
		h.fail(c, err)
		return
	}
	h.submit(c, op(api.OpInstanceReplaceDisks, p))
}

// evacuateNode answers POST /2/nodes/N/evacuate {mode}: one job.
func (h *Mount) evacuateNode(c *gin.Context) {
	req, err := rapiParams(c, "mode", "iallocator", "remote_node", "early_release")
	if err != nil {
		h.fail(c, err)
		return
	}
	mode, err := stringParam(req, "mode")
	if err == nil {
		err = refuseParams(req, "iallocator", "remote_node", "early_release")
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	p := api.NodeEvacuate{Name: c.Param("name"), NodeEvacuateOptions: api.NodeEvacuateOptions{Mode: mode}}
	if err := p.Validate(); err != nil {
		h.fail(c, err)
		return
	}
	h.submit(c, op(api.OpNodeEvacuate, p))
}

// migrateNode answers POST /2/nodes/N/migrate {mode}: the node's primaries
// migrate to their secondaries (live; non-live is refused).
func (h *Mount) migrateNode(c *gin.Context) {
	req, err := rapiParams(c, "mode", "live", "target_node", "iallocator")
	if err != nil {
		h.fail(c, err)
		return
	}
	mode, err := stringParam(req, "mode")
	if err == nil {
		err = refuseParams(req, "target_node", "iallocator")
	}
	if err == nil && (mode != "" && mode != "live" || fmt.Sprint(req["live"]) == "0" || req["live"] == false) {
		err = wrongInput("only live migration is supported by drover (mode live)")
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	p := api.NodeMigrate{Name: c.Param("name")}
	if err := p.Validate(); err != nil {
		h.fail(c, err)
		return
	}
	h.submit(c, op(api.OpNodeMigrate, p))
}
