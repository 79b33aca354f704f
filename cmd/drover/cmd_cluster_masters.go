package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
)

// clusterMasterCommands add and remove masters of a running cluster
// (docs/operations.md, "Adding and removing masters").
func clusterMasterCommands() []*cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Required: true, Usage: "the cluster directory (with the CA key) whose cluster.json and pki/ are updated"}
	return []*cli.Command{
		{
			Name:      "add-master",
			Usage:     "add a master to a running cluster: its etcd member, certificate and cluster.json entry; then start it (drover master --dir D --name NAME)",
			ArgsUsage: "NAME=IP",
			Flags: []cli.Flag{dirFlag,
				&cli.IntFlag{Name: "api-port", Usage: "default: that of the first master"},
				&cli.IntFlag{Name: "etcd-client-port", Usage: "default: that of the first master"},
				&cli.IntFlag{Name: "etcd-peer-port", Usage: "default: that of the first master"},
			},
			Action: clusterAddMaster,
		},
		{
			Name:      "remove-master",
			Usage:     "remove a master from a running cluster: its etcd member (refused when the rest could not keep a quorum), record and files; the master stops",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{dirFlag, forceFlag()},
			Action:    clusterRemoveMaster,
		},
		{
			Name:  "renew-certs",
			Usage: "give masters new certificates from the cluster CA in DIR (default all); running masters use them at their next TLS handshakes, without a restart",
			Flags: []cli.Flag{dirFlag,
				&cli.StringSliceFlag{Name: "master", Usage: "only this master (repeat)"},
			},
			Action: clusterRenewCerts,
		},
		{
			Name:   "members",
			Usage:  "the masters' etcd members",
			Flags:  listFlags(),
			Action: clusterMembers,
		},
	}
}

var memberFields = fieldSet[api.EtcdMember]{
	defaults: []string{"name", "id", "peer_urls", "learner", "started"},
	fields: []field[api.EtcdMember]{
		{"name", "Name", func(m api.EtcdMember) string { return orDash(m.Name) }},
		{"id", "ID", func(m api.EtcdMember) string { return m.ID }},
		{"peer_urls", "PeerURLs", func(m api.EtcdMember) string { return strings.Join(m.PeerURLs, ",") }},
		{"learner", "Learner", func(m api.EtcdMember) string { return yesNo(m.Learner) }},
		{"started", "Started", func(m api.EtcdMember) string { return yesNo(m.Started) }},
	},
}

func clusterMembers(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	ms, err := cl.ClusterMembers(c.Context)
	if err != nil {
		return err
	}
	return printList(c, memberFields, ms)
}

func clusterAddMaster(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("cluster add-master needs NAME=IP")
	}
	name, ip, ok := strings.Cut(c.Args().First(), "=")
	if !ok || net.ParseIP(ip) == nil {
		return usagef("cluster add-master: want NAME=IP, got %q", c.Args().First())
	}
	d, err := master.LoadClusterDir(c.String("dir"))
	if err != nil {
		return err
	}
	if _, err := d.Master(name); err == nil {
		return api.Errorf(api.CodeAlreadyExists, "master %s is in cluster.json already", name)
	}
	first := d.Cluster.Masters[0]
	port := func(flag string, def int) int {
		if c.IsSet(flag) {
			return c.Int(flag)
		}
		return def
	}
	spec := keys.MasterSpec{Name: name, IP: ip, APIPort: port("api-port", first.APIPort),
		ClientPort: port("etcd-client-port", first.ClientPort), PeerPort: port("etcd-peer-port", first.PeerPort)}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	ms, err := cl.AddMaster(c.Context, api.MasterAdd{Name: spec.Name, IP: spec.IP, APIPort: spec.APIPort, ClientPort: spec.ClientPort, PeerPort: spec.PeerPort})
	if err != nil {
		return err
	}
	if err := d.AddMasterFiles(spec); err != nil {
		return fmt.Errorf("the etcd member of %s was added, but its files were not written (remove it with cluster remove-master): %w", name, err)
	}
	fmt.Fprintf(c.App.Writer, "Master %s added: %d etcd members. Copy %s to its host (without data/ of other masters) and start it now:\n  drover master --dir %s --name %s\n",
		name, len(ms), d.Dir, d.Dir, name)
	return nil
}

func clusterRemoveMaster(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("cluster remove-master needs the master's name")
	}
	name := c.Args().First()
	d, err := master.LoadClusterDir(c.String("dir"))
	if err != nil {
		return err
	}
	spec, err := d.Master(name)
	if err != nil {
		return api.Errorf(api.CodeUnknownEntity, "master %s is not in %s/cluster.json", name, d.Dir)
	}
	if err := confirm(c, fmt.Sprintf("Remove master %s and its etcd member?", name)); err != nil {
		return err
	}
	// Ask the other masters: a master does not remove its own member.
	var others []string
	for _, m := range d.Cluster.Masters {
		if m.Name != name {
			others = append(others, "https://"+net.JoinHostPort(m.IP, strconv.Itoa(m.APIPort)))
		}
	}
	cl, err := clientFor(c, others)
	if err != nil {
		return err
	}
	ms, err := cl.RemoveMaster(c.Context, name)
	if err != nil {
		return err
	}
	if err := d.RemoveMasterFiles(spec.Name); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Master %s removed: %d etcd members left; its process stops by itself.\n", name, len(ms))
	return nil
}

// clientFor is newClient with other master URLs.
func clientFor(c *cli.Context, urls []string) (*api.Client, error) {
	cfg, err := loadClientConfig(c)
	if err != nil {
		return nil, err
	}
	return clientWith(cfg, urls)
}

func clusterRenewCerts(c *cli.Context) error {
	if c.NArg() != 0 {
		return usagef("cluster renew-certs takes no arguments")
	}
	d, err := master.LoadClusterDir(c.String("dir"))
	if err != nil {
		return err
	}
	names := c.StringSlice("master")
	if len(names) == 0 {
		for _, m := range d.Cluster.Masters {
			names = append(names, m.Name)
		}
	}
	for _, n := range names {
		until, err := d.RenewMasterCert(n)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "Renewed the certificate of master %s (valid until %s)\n", n, until.UTC().Format("2006-01-02"))
	}
	return nil
}
