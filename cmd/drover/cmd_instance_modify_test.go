package main

import "testing"

// TestInstanceModifyRequest: one -B list of instance modify carries the
// service address, the HA properties and vcpus/memory together.
func TestInstanceModifyRequest(t *testing.T) {
	req, err := instanceModifyRequest("service_ip=192.0.2.20/24@br0,ha_priority=10,vcpus=2,location=node1:100,node2:50,failback=on")
	if err != nil {
		t.Fatal(err)
	}
	if req.ServiceIP == nil || *req.ServiceIP != "192.0.2.20/24@br0" {
		t.Errorf("service_ip %v", req.ServiceIP)
	}
	if req.HAPriority == nil || *req.HAPriority != 10 || req.Failback == nil || !*req.Failback {
		t.Errorf("ha_priority %v, failback %v", req.HAPriority, req.Failback)
	}
	if req.Location == nil || len(*req.Location) != 2 || (*req.Location)["node2"] != 50 {
		t.Errorf("location %v", req.Location)
	}
	if req.VCPUs == nil || *req.VCPUs != 2 || req.MemoryMiB != nil {
		t.Errorf("vcpus %v, memory %v", req.VCPUs, req.MemoryMiB)
	}
	req, err = instanceModifyRequest("ha_priority=-3")
	if err != nil || req.HAPriority == nil || *req.HAPriority != -3 || req.ServiceIP != nil || req.VCPUs != nil || req.MemoryMiB != nil {
		t.Errorf("ha_priority only: %+v %v", req, err)
	}
	req, err = instanceModifyRequest("service_ip=")
	if err != nil || req.ServiceIP == nil || *req.ServiceIP != "" || req.HAPriority != nil {
		t.Errorf("service_ip= only: %+v %v", req, err)
	}
	for _, in := range []string{"service_ip=192.0.2.20/24,ha_priority=1", "service_ip=192.0.2.20/24@br0,ha_priority=x", "ha_priority=1,colour=red"} {
		if _, err := instanceModifyRequest(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
