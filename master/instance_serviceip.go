package master

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// checkServiceIP refuses a service address that another instance has or
// that is the cluster IP (already_exists): two holders of one address is
// what floating addresses must never give.
func (m *Master) checkServiceIP(ctx context.Context, p api.InstanceModifyOp) error {
	if p.ServiceIP == nil || *p.ServiceIP == "" {
		return nil
	}
	sip, err := api.ParseServiceIP(*p.ServiceIP)
	if err != nil {
		return err
	}
	addr := sip.Prefix.Addr()
	var cr keys.ClusterRecord
	if _, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &cr); err != nil {
		return unavailable("read cluster", err)
	}
	if c := clusterIPOf(cr); c.set() && c.addr.Addr() == addr {
		return api.Errorf(api.CodeAlreadyExists, "service_ip %s: it is the cluster IP", addr)
	}
	tctx, cancel := store.WithTimeout(ctx)
	resp, err := m.client.Get(tctx, keys.InstancesPrefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return unavailable("read instances", err)
	}
	for _, kv := range resp.Kvs {
		var r keys.InstanceRecord
		if json.Unmarshal(kv.Value, &r) != nil || r.Name == p.Name || r.ServiceIP == "" {
			continue
		}
		if o, err := api.ParseServiceIP(r.ServiceIP); err == nil && o.Prefix.Addr() == addr {
			return api.Errorf(api.CodeAlreadyExists, "service_ip %s: instance %s has it", addr, r.Name)
		}
	}
	return nil
}
