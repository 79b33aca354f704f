package rapi

import (
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// ignoredCreateFields are OpInstanceCreate parameters that have no meaning
// in drover and are accepted without effect.
var ignoredCreateFields = map[string]bool{
	"ip_check": true, "name_check": true, "conflicts_check": true,
	"iallocator": true, "opportunistic_locking": true, "dry_run": true, "identify_defaults": true,
}

// createInstance answers POST /2/instances with a version 1 body
// (OpInstanceCreate's parameters). Parameters drover cannot honour are
// refused with wrong_input, naming them.
func (h *Mount) createInstance(c *gin.Context) {
	var req map[string]any
	if err := body(c, &req); err != nil {
		h.fail(c, err)
		return
	}
	add, err := parseCreate(req)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.submit(c, op(api.OpInstanceAdd, add))
}

func parseCreate(req map[string]any) (api.InstanceAdd, error) {
	var add api.InstanceAdd
	if req == nil {
		return add, wrongInput("Invalid body contents, not a dictionary")
	}
	ver, found := req["__version__"]
	if !found {
		return add, wrongInput("Instance creation request version 0 is no longer supported")
	}
	if v, err := number(ver, "__version__"); err != nil || v != 1 {
		return add, wrongInput("Unsupported request data version %v", ver)
	}
	return ParseCreateParams(req)
}

// ParseCreateParams turns OpInstanceCreate's parameters (a RAPI version 1
// body, or one entry of gnt-instance batch-create's file) into an
// InstanceAdd; parameters drover cannot honour are wrong_input.
func ParseCreateParams(req map[string]any) (api.InstanceAdd, error) {
	var add api.InstanceAdd
	if req == nil {
		return add, wrongInput("Invalid body contents, not a dictionary")
	}
	str := func(key string) (string, error) {
		v, found := req[key]
		if !found || v == nil {
			return "", nil
		}
		s, isStr := v.(string)
		if !isStr {
			return "", wrongInput("%s: want a string", key)
		}
		return s, nil
	}
	var unknown []string
	for k, v := range req {
		var err error
		switch k {
		case "__version__":
		case "mode":
			var m string
			if m, err = str(k); err == nil && m != "create" {
				err = wrongInput("mode %q: drover only creates (no import)", m)
			}
		case "name", "instance_name":
			add.Name, err = str(k)
		case "os", "os_type":
			add.OS, err = str(k)
		case "disk_template":
			add.DiskTemplate, err = str(k)
		case "pnode":
			add.Node, err = str(k)
		case "hypervisor":
			add.Hypervisor, err = str(k)
			if add.Hypervisor == "fake" {
				add.Hypervisor = ""
			}
		case "snode":
			add.SecondaryNode, err = str(k)
		case "no_install":
			add.NoInstall, _ = v.(bool)
		case "wait_for_sync":
			if b, isBool := v.(bool); isBool && !b && req["disk_template"] == api.DiskTemplateDRBD {
				add.NoWaitForSync = true
			}
		case "start":
			b, isBool := v.(bool)
			if !isBool {
				err = wrongInput("start: want a boolean")
			}
			add.NoStart = !b
		case "disks":
			add.Disks, err = parseDisks(v)
		case "nics":
			add.NICs, err = parseNICs(v)
		case "beparams":
			add.MemoryMiB, add.VCPUs, err = parseBeparams(v)
		case "hvparams", "osparams", "tags":
			if m, isMap := v.(map[string]any); !(v == nil || isMap && len(m) == 0 || isEmptyList(v)) {
				err = wrongInput("%s are not supported by drover's create (tags: add them afterwards)", k)
			}
		default:
			if !ignoredCreateFields[k] {
				unknown = append(unknown, k)
			}
		}
		if err != nil {
			return add, err
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return add, wrongInput("parameters not supported by drover: %s", strings.Join(unknown, ", "))
	}
	if add.MemoryMiB == 0 {
		add.MemoryMiB = defaultMemoryMiB
	}
	if add.VCPUs == 0 {
		add.VCPUs = defaultVCPUs
	}
	return add, nil
}

func isEmptyList(v any) bool {
	l, isList := v.([]any)
	return isList && len(l) == 0
}

func parseDisks(v any) ([]api.InstanceDisk, error) {
	list, isList := v.([]any)
	if !isList {
		return nil, wrongInput("disks: want a list")
	}
	var out []api.InstanceDisk
	for i, d := range list {
		m, isMap := d.(map[string]any)
		if !isMap {
			return nil, wrongInput("disk %d: want an object", i)
		}
		size, err := number(m["size"], "disk size")
		if err != nil {
			return nil, err
		}
		for k := range m {
			if k != "size" && k != "mode" && k != "name" {
				return nil, wrongInput("disk %d: parameter %s not supported by drover", i, k)
			}
		}
		out = append(out, api.InstanceDisk{SizeMiB: size})
	}
	return out, nil
}

func parseNICs(v any) ([]api.InstanceNIC, error) {
	list, isList := v.([]any)
	if !isList {
		return nil, wrongInput("nics: want a list")
	}
	var out []api.InstanceNIC
	for i, n := range list {
		m, isMap := n.(map[string]any)
		if !isMap {
			return nil, wrongInput("nic %d: want an object", i)
		}
		var nic api.InstanceNIC
		for k, val := range m {
			s, _ := val.(string)
			switch k {
			case "link":
				nic.Link = s
			case "mode":
				if s != "" && s != "bridged" {
					return nil, wrongInput("nic %d: mode %q: drover has bridged NICs only", i, s)
				}
			case "mac":
				if s != "" && s != "auto" && s != "generate" {
					return nil, wrongInput("nic %d: drover allocates MACs itself", i)
				}
			case "ip", "name", "network":
				if val != nil && s != "" && s != "none" {
					return nil, wrongInput("nic %d: %s is not supported by drover", i, k)
				}
			default:
				return nil, wrongInput("nic %d: parameter %s not supported by drover", i, k)
			}
		}
		out = append(out, nic)
	}
	return out, nil
}

// parseBeparams reads memory (or maxmem) and vcpus; minmem is accepted when
// it equals maxmem (drover has no ballooning).
func parseBeparams(v any) (int64, int, error) {
	m, isMap := v.(map[string]any)
	if !isMap {
		return 0, 0, wrongInput("beparams: want an object")
	}
	var mem, minmem, vcpus int64
	var err error
	for k, val := range m {
		switch k {
		case "memory", "maxmem":
			mem, err = number(val, "beparams "+k)
		case "minmem":
			minmem, err = number(val, "beparams minmem")
		case "vcpus":
			vcpus, err = number(val, "beparams vcpus")
		case "auto_balance", "always_failover", "spindle_use":
		default:
			err = wrongInput("beparams %s is not supported by drover", k)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if minmem != 0 && mem != 0 && minmem != mem {
		return 0, 0, wrongInput("beparams minmem %d != maxmem %d: drover has no ballooning", minmem, mem)
	}
	if mem == 0 {
		mem = minmem
	}
	return mem, int(vcpus), nil
}
