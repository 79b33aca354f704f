package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// filterFlag is --filter KEY=VALUE of node and instance list: a server-side
// filter on a field of the API's objects (docs/api.md).
func filterFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "filter", Usage: "KEY=VALUE: only objects whose API field KEY is VALUE (a,b: any of); repeat for more"}
}

// instanceFilterFlags are instance list's shorthands for its server-side
// filters, and the page size it reads with.
func instanceFilterFlags() []cli.Flag {
	return []cli.Flag{
		filterFlag(),
		&cli.StringFlag{Name: "node", Usage: "only instances whose primary is NODE"},
		&cli.StringFlag{Name: "status", Usage: "only instances in this status (running, ADMIN_down, ERROR_down...; a,b: any of)"},
		&cli.StringFlag{Name: "tag", Usage: "only instances with this tag"},
		&cli.StringFlag{Name: "prefix", Usage: "only instances whose name starts so"},
		&cli.IntFlag{Name: "page-size", Value: 2000, Usage: "instances per request (GET /instances?limit=)"},
	}
}

// listFilters reads --filter and the shorthands into API query filters.
func listFilters(c *cli.Context, shorthands map[string]string) (map[string]string, error) {
	f := map[string]string{}
	for _, kv := range c.StringSlice("filter") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--filter %q: want KEY=VALUE", kv)
		}
		f[k] = v
	}
	for flag, key := range shorthands {
		if c.IsSet(flag) {
			f[key] = c.String(flag)
		}
	}
	return f, nil
}

// instanceQuery is the query of instance list: filters, the names asked
// for (name=a,b) and the page size.
func instanceQuery(c *cli.Context) (api.InstanceQuery, error) {
	f, err := listFilters(c, map[string]string{"node": "node", "status": "status", "tag": "tag", "prefix": "name_prefix"})
	if err != nil {
		return api.InstanceQuery{}, err
	}
	if c.NArg() > 0 {
		f["name"] = strings.Join(c.Args().Slice(), ",")
	}
	if c.Int("page-size") < 1 || c.Int("page-size") > api.MaxListLimit {
		return api.InstanceQuery{}, usagef("--page-size must be 1..%d", api.MaxListLimit)
	}
	return api.InstanceQuery{Filter: f, Limit: c.Int("page-size"), Fields: instanceListFields(c)}, nil
}

// instanceColumnFields are the API fields (GET /instances?fields=) that
// each column of instance list shows.
var instanceColumnFields = map[string][]string{
	"name": {"name"}, "hv": {"hypervisor"}, "os": {"os"}, "os_version": {"os_version"}, "pnode": {"primary_node"},
	"status": {"status"}, "admin_state": {"admin_state"}, "oper_state": {"oper_state"}, "redundancy": {"redundancy"},
	"memory": {"memory_mib"}, "vcpus": {"vcpus"}, "disk_template": {"disk_template"}, "disk_sizes": {"disks"},
	"nic_macs": {"nics"}, "nic_links": {"nics"}, "restarts": {"restarts"}, "uuid": {"uuid"}, "created": {"created_at"},
	"ha_priority": {"ha_priority"}, "migration_threshold": {"migration_threshold"}, "failback": {"failback"}, "location": {"location"},
}

// instanceListFields is what instance list asks the masters for: only the
// fields of the columns it prints (and the name), or everything for
// --output json without --fields and --list-fields (nil).
func instanceListFields(c *cli.Context) []string {
	if c.Bool("list-fields") || outputJSON(c) && !c.IsSet("fields") {
		return nil
	}
	sel, err := instanceFields.selectFields(c.String("fields"))
	if err != nil {
		return nil // printList says why
	}
	out := []string{"name"}
	for _, f := range sel {
		af, ok := instanceColumnFields[f.name]
		if !ok {
			return nil // a column without a mapping: ask for everything
		}
		for _, a := range af {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}
