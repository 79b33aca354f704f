package master

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// opClusterModify changes the cluster record's settings (the cluster IP
// and its device, the node groups' ping targets, uplink migration). The leader's cluster-ip controller and every master's
// listener follow the record (ctl_cluster_ip.go, cluster_ip.go).
func (m *Master) opClusterModify() jobs.Kind {
	return jobs.Kind{
		Name: api.OpClusterModify,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parseOp[api.ClusterModify](raw)
			if err != nil {
				return err
			}
			var rec keys.ClusterRecord
			if _, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &rec); err != nil {
				return unavailable("read cluster", err)
			}
			return applyClusterModify(&rec, p)
		},
		Locks: func(json.RawMessage) []string { return []string{"cluster"} },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[api.ClusterModify](raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				var rec keys.ClusterRecord
				rev, err := store.GetJSON(ctx, sc.Client, keys.ClusterKey, &rec)
				if err != nil {
					return err
				}
				if err := applyClusterModify(&rec, p); err != nil {
					return err
				}
				put, err := store.PutJSON(keys.ClusterKey, rec)
				if err != nil {
					return err
				}
				sc.If(store.Unchanged(keys.ClusterKey, rev))
				sc.Then(put)
				if p.ClusterIP != nil || p.ClusterIPDev != nil {
					if rec.ClusterIP == "" {
						sc.Logf("cluster IP removed")
					} else {
						sc.Logf("cluster IP %s on device %s", rec.ClusterIP, rec.ClusterIPDev)
					}
				}
				if p.PingTargets != nil {
					targets := api.PingTargetsString(rec.PingTargets)
					if targets == "" {
						targets = "none"
					}
					sc.Logf("ping targets: %s", targets)
				}
				if p.UplinkMigrate != nil {
					sc.Logf("migration away from a node without uplink: %v", !rec.UplinkMigrateOff)
				}
				return nil
			}}}, nil
		},
	}
}

// applyClusterModify sets p's fields in rec and checks the result: a
// cluster IP needs a device; clearing the address clears the device.
func applyClusterModify(rec *keys.ClusterRecord, p api.ClusterModify) error {
	if p.ClusterIP != nil {
		rec.ClusterIP = *p.ClusterIP
		if rec.ClusterIP == "" {
			rec.ClusterIPDev = ""
		}
	}
	if p.ClusterIPDev != nil {
		rec.ClusterIPDev = *p.ClusterIPDev
	}
	if err := api.ValidPingTargets(p.PingTargets); err != nil {
		return err
	}
	for g, addrs := range p.PingTargets {
		if rec.PingTargets == nil {
			rec.PingTargets = map[string][]string{}
		}
		if len(addrs) == 0 {
			delete(rec.PingTargets, g)
		} else {
			rec.PingTargets[g] = append([]string(nil), addrs...)
		}
	}
	if len(rec.PingTargets) == 0 {
		rec.PingTargets = nil
	}
	if p.UplinkMigrate != nil {
		rec.UplinkMigrateOff = !*p.UplinkMigrate
	}
	switch {
	case rec.ClusterIP == "" && rec.ClusterIPDev != "":
		return api.Errorf(api.CodeWrongInput, "cluster_ip_dev %s without a cluster IP (--cluster-ip)", rec.ClusterIPDev)
	case rec.ClusterIP != "" && rec.ClusterIPDev == "":
		return api.Errorf(api.CodeWrongInput, "cluster IP %s needs a device (--cluster-ip-dev)", rec.ClusterIP)
	}
	if err := api.ValidClusterIP(rec.ClusterIP, rec.ClusterIPDev, true, true); err != nil {
		return fmt.Errorf("cluster modify: %w", err)
	}
	return nil
}
