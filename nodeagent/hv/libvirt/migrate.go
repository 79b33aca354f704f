package libvirt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
)

// Migrate implements hv.Migrator: a peer-to-peer migration driven by the
// source libvirtd (one call on this connection), persistent on the
// destination and undefined here afterwards. destURI is the destination
// libvirtd as the source daemon reaches it, e.g. qemu+tcp://127.0.0.2:16510/system.
// With opts.Paths the domain's live and persistent XML are sent with the
// destination's paths (destination_xml, persistent_xml).
// The call is bounded by ctx (default 10 min), not by CallTimeout.
func (d *Driver) Migrate(ctx context.Context, name, destURI string, opts hv.MigrateOptions) error {
	flags := golibvirt.MigratePeer2peer | golibvirt.MigratePersistDest | golibvirt.MigrateUndefineSource
	if opts.Live {
		flags |= golibvirt.MigrateLive
	}
	if opts.CopyStorage {
		flags |= golibvirt.MigrateNonSharedDisk
	}
	if opts.Unsafe {
		flags |= golibvirt.MigrateUnsafe
	}
	if opts.Paused {
		flags |= golibvirt.MigratePaused
	}
	var params []golibvirt.TypedParam
	str := func(k, v string) {
		if v != "" {
			params = append(params, golibvirt.TypedParam{Field: k, Value: golibvirt.TypedParamValue{D: 7, I: v}})
		}
	}
	str(golibvirt.MigrateParamURI, opts.MigrateURI)
	str(golibvirt.MigrateParamListenAddress, opts.ListenAddress)
	if opts.Bandwidth > 0 {
		params = append(params, golibvirt.TypedParam{Field: golibvirt.MigrateParamBandwidth, Value: golibvirt.TypedParamValue{D: 4, I: opts.Bandwidth}})
	}
	timeout := 10 * time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	running := func(s hv.DomainState) bool { return s == hv.StateRunning || s == hv.StatePaused }
	return d.onDomain(ctx, "migrate", name, timeout, running, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		p := params
		if len(opts.Paths) > 0 {
			live, err := l.DomainGetXMLDesc(dom, golibvirt.DomainXMLMigratable|golibvirt.DomainXMLSecure)
			if err != nil {
				return err
			}
			persist, err := l.DomainGetXMLDesc(dom, golibvirt.DomainXMLMigratable|golibvirt.DomainXMLSecure|golibvirt.DomainXMLInactive)
			if err != nil {
				return err
			}
			if live, err = replacePaths(live, opts.Paths); err != nil {
				return fmt.Errorf("destination xml: %w", err)
			}
			if persist, err = replacePaths(persist, opts.Paths); err != nil {
				return fmt.Errorf("persistent xml: %w", err)
			}
			p = append(append([]golibvirt.TypedParam{}, params...),
				golibvirt.TypedParam{Field: golibvirt.MigrateParamDestXML, Value: golibvirt.TypedParamValue{D: 7, I: live}},
				golibvirt.TypedParam{Field: golibvirt.MigrateParamPersistXML, Value: golibvirt.TypedParamValue{D: 7, I: persist}})
		}
		_, err := l.DomainMigratePerform3Params(dom, golibvirt.OptString{destURI}, p, nil, flags)
		if err != nil && opts.CopyStorage && strings.Contains(err.Error(), "Duplicate nodes with node-name='"+copyNodePrefix) {
			gone, derr := dropStaleCopyNodes(l, dom)
			if derr != nil || len(gone) == 0 {
				d.log.Warn("migration_stale_nodes_not_removed", "domain", name, "err", derr)
				return err
			}
			d.log.Warn("migration_stale_nodes_removed", "domain", name, "nodes", gone)
			_, err = l.DomainMigratePerform3Params(dom, golibvirt.OptString{destURI}, p, nil, flags)
		}
		return err
	})
}

// copyNodePrefix starts the names of the block nodes libvirt adds to the
// source QEMU for a migration's disk copy (migration-vda-storage, its
// format layer, one pair per disk).
const copyNodePrefix = "migration-"

// dropStaleCopyNodes removes the disk-copy block nodes a libvirtd killed
// during a migration's storage copy left in the source QEMU. Its restarted
// libvirtd's recovery cancels the copy's mirror job but not those nodes,
// and every later storage-copy migration of the domain then fails with
// "Duplicate nodes with node-name='migration-vda-storage'" (seen in the
// libvirtd chaos runs, libvirt 9.0). Migrate calls it after that error and
// tries once more (the monitor command taints the domain in libvirt's log:
// only then). Nothing is removed while QEMU runs a block job (a copy may be
// under way). It answers the nodes removed.
func dropStaleCopyNodes(l *golibvirt.Libvirt, dom golibvirt.Domain) ([]string, error) {
	qmp := func(cmd string, out any) error {
		res, err := l.QEMUDomainMonitorCommand(dom, cmd, 0)
		if err != nil {
			return err
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal([]byte(res), out)
	}
	var jobs struct {
		Return []json.RawMessage `json:"return"`
	}
	if err := qmp(`{"execute":"query-block-jobs"}`, &jobs); err != nil {
		return nil, fmt.Errorf("query-block-jobs: %w", err)
	}
	if len(jobs.Return) > 0 {
		return nil, nil
	}
	var nodes struct {
		Return []struct {
			NodeName string `json:"node-name"`
		} `json:"return"`
	}
	if err := qmp(`{"execute":"query-named-block-nodes","arguments":{"flat":true}}`, &nodes); err != nil {
		return nil, fmt.Errorf("query-named-block-nodes: %w", err)
	}
	var stale []string
	for _, n := range nodes.Return {
		if strings.HasPrefix(n.NodeName, copyNodePrefix) && !slices.Contains(stale, n.NodeName) {
			stale = append(stale, n.NodeName)
		}
	}
	// A format layer sits on its storage node: it goes first.
	sort.SliceStable(stale, func(i, j int) bool {
		return !strings.HasSuffix(stale[i], "-storage") && strings.HasSuffix(stale[j], "-storage")
	})
	var gone []string
	for _, n := range stale {
		arg, _ := json.Marshal(map[string]any{"execute": "blockdev-del", "arguments": map[string]string{"node-name": n}})
		if err := qmp(string(arg), nil); err != nil {
			return gone, fmt.Errorf("blockdev-del %s: %w", n, err)
		}
		gone = append(gone, n)
	}
	return gone, nil
}

// Resume implements hv.Resumer: a paused domain runs again (a running one
// is left as it is).
func (d *Driver) Resume(ctx context.Context, name string) error {
	paused := func(s hv.DomainState) bool {
		return s == hv.StatePaused || s == hv.StateRunning || s == hv.StateBlocked
	}
	return d.onDomain(ctx, "resume", name, d.opts.CallTimeout, paused, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		st, _, err := l.DomainGetState(dom, 0)
		if err != nil {
			return err
		}
		if golibvirt.DomainState(st) != golibvirt.DomainPaused {
			return nil
		}
		return l.DomainResume(dom)
	})
}

// WaitIdle implements hv.JobWaiter: it returns once libvirtd runs no job on
// the domain (virDomainGetControlInfo says ok; a migration, or a restarted
// libvirtd's recovery of one, holds a job) or the domain is gone or inactive. It polls
// every 200 ms until ctx ends.
func (d *Driver) WaitIdle(ctx context.Context, name string) error {
	for {
		var busy bool
		err := d.onDomain(ctx, "control info", name, d.opts.CallTimeout, nil, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
			st, _, _, err := l.DomainGetControlInfo(dom, 0)
			busy = err == nil && golibvirt.DomainControlState(st) != golibvirt.DomainControlOk
			return err
		})
		switch {
		case errors.Is(err, hv.ErrNotFound), errors.Is(err, hv.ErrWrongState):
			// Gone, or not running (libvirtd answers no control info
			// of an inactive domain): no job runs on it.
			return nil
		case err != nil:
			return err
		case !busy:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("domain %s: libvirtd still runs a job on it: %w", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LastMigration implements hv.MigrationStatser: libvirt's completed job
// info of the domain. On the destination of a migration it holds the
// migration's figures (the source hands them over when it finishes).
func (d *Driver) LastMigration(ctx context.Context, name string) (hv.MigrationStats, error) {
	var st hv.MigrationStats
	err := d.onDomain(ctx, "job stats", name, d.opts.CallTimeout, nil, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		typ, params, err := l.DomainGetJobStats(dom, golibvirt.DomainJobStatsCompleted)
		if err != nil {
			return err
		}
		if golibvirt.DomainJobType(typ) == golibvirt.DomainJobNone {
			return fmt.Errorf("no completed job: %w", hv.ErrNotFound)
		}
		for _, p := range params {
			v, ok := p.Value.I.(uint64)
			if !ok {
				continue
			}
			switch p.Field {
			case "time_elapsed":
				st.Total = time.Duration(v) * time.Millisecond
			case "downtime":
				st.Downtime = time.Duration(v) * time.Millisecond
			case "data_processed":
				st.DataBytes = v
			case "memory_processed":
				st.MemoryBytes = v
			case "disk_processed":
				st.DiskBytes = v
			}
		}
		return nil
	})
	return st, err
}
