package main

import "github.com/drover-project/drover/api"

// instanceModifyRequest reads the -B list of `instance modify`: the
// service address (service_ip=), the HA properties (ha_priority=, ...) and
// vcpus/memory, all in one InstanceModify; a key no parser knows is a usage
// error.
func instanceModifyRequest(be string) (api.InstanceModify, error) {
	var req api.InstanceModify
	rest, sip, err := cutServiceIP(be)
	if err != nil {
		return req, err
	}
	ha, rest, err := parseHABE(rest)
	if err != nil {
		return req, err
	}
	req.ServiceIP, req.InstanceHAModify = sip, ha
	if rest != "" {
		if req.VCPUs, req.MemoryMiB, err = parseBE(rest); err != nil {
			return req, err
		}
	}
	return req, nil
}
