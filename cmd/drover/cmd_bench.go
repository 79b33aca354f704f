package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// benchListCommand times GET /instances as an API client sees it (one
// kept-alive HTTPS connection, JSON decoded): scripts/bench-scale.sh.
func benchListCommand() *cli.Command {
	return &cli.Command{
		Name:   "bench-list",
		Usage:  "time GET /instances: N requests, their p50, p99 and worst latency",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "requests", Value: 100},
			&cli.IntFlag{Name: "limit", Value: 10000, Usage: "page size (limit=)"},
			&cli.StringFlag{Name: "fields", Usage: "fields= (comma-separated; default all)"},
			&cli.StringSliceFlag{Name: "filter", Usage: "KEY=VALUE query filter; repeat for more"},
		},
		Action: func(c *cli.Context) error {
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			q := api.InstanceQuery{Limit: c.Int("limit"), Filter: map[string]string{}}
			if f := c.String("fields"); f != "" {
				q.Fields = strings.Split(f, ",")
			}
			for _, kv := range c.StringSlice("filter") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usagef("--filter %q: want KEY=VALUE", kv)
				}
				q.Filter[k] = v
			}
			var took []time.Duration
			n := 0
			for i := 0; i < c.Int("requests"); i++ {
				t0 := time.Now()
				page, _, err := cl.ListInstancesPage(c.Context, q)
				if err != nil {
					return err
				}
				took = append(took, time.Since(t0))
				n = len(page)
			}
			slices.Sort(took)
			pct := func(p float64) float64 {
				return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
			}
			fmt.Fprintf(c.App.Writer, "list of %d instances (fields %q, filters %v): %d requests, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
				n, c.String("fields"), q.Filter, len(took), pct(0.5), pct(0.99), pct(1))
			return nil
		},
	}
}
