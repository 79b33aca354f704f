package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/nodeagent"
)

func daemonLogger(c *cli.Context) *slog.Logger {
	lvl := slog.LevelInfo
	_ = lvl.UnmarshalText([]byte(c.String("log-level")))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func logLevelFlag() cli.Flag {
	return &cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"}
}

// dumpOnSIGUSR1 writes every goroutine's stack to stderr (the daemon's log)
// whenever the process gets SIGUSR1, and goes on: how an operator, or the
// chaos harness, sees where a daemon that stopped doing its work waits.
func dumpOnSIGUSR1(log *slog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
			log.Warn("goroutine_dump", "reason", "SIGUSR1", "goroutines", runtime.NumGoroutine())
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			fmt.Fprintln(os.Stderr, "goroutine_dump_end")
		}
	}()
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func masterCommand() *cli.Command {
	return &cli.Command{
		Name:  "master",
		Usage: "run a master: embedded etcd member, election, job executor, HTTPS API",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Required: true, Usage: "cluster directory (drover cluster init)"},
			&cli.StringFlag{Name: "name", Required: true, Usage: "this master's name in cluster.json"},
			&cli.StringFlag{Name: "etcd-endpoints", Usage: "use this etcd cluster instead of an embedded member (comma-separated)"},
			&cli.IntFlag{Name: "session-ttl", Usage: "election session TTL in seconds (default 2)"},
			&cli.UintFlag{Name: "etcd-tick-ms", Usage: "embedded etcd heartbeat interval"},
			&cli.UintFlag{Name: "etcd-election-ms", Usage: "embedded etcd election timeout (the session TTL must be at least 1.5 times it)"},
			&cli.DurationFlag{Name: "etcd-compaction-retention", Usage: "embedded etcd's periodic compaction: keep revisions this long (default 1h)"},
			&cli.StringFlag{Name: "api-listen", Usage: "API listen address (default from cluster.json)"},
			&cli.DurationFlag{Name: "job-archive-age", Usage: "archive finished jobs older than this (default 6h)"},
			&cli.StringFlag{Name: "pid-file", Usage: "write the pid here"},
			&cli.StringFlag{Name: "etcd-log-level", EnvVars: []string{"DROVER_ETCD_LOG_LEVEL"}, Usage: "the embedded etcd member's log on stderr: debug, info, warn, error or none (default none)"},
			logLevelFlag(),
			rapiAnonymousReadsFlag(),
		},
		Action: func(c *cli.Context) error {
			log := daemonLogger(c) // master.New names the master in every line
			dumpOnSIGUSR1(log.With("master", c.String("name")))
			if err := writePidFile(c.String("pid-file")); err != nil {
				return err
			}
			m, err := master.New(master.Config{
				Dir:           c.String("dir"),
				Name:          c.String("name"),
				EtcdEndpoints: splitList(c.String("etcd-endpoints")),
				SessionTTL:    c.Int("session-ttl"),
				TickMs:        c.Uint("etcd-tick-ms"),
				ElectionMs:    c.Uint("etcd-election-ms"),
				APIListen:     c.String("api-listen"),
				JobArchiveAge: c.Duration("job-archive-age"),
				Version:       version,
				EtcdLogLevel:  c.String("etcd-log-level"),

				EtcdCompactionRetention: c.Duration("etcd-compaction-retention"),
				RAPIAnonymousReads:      c.Bool("rapi-anonymous-reads"),
			}, log)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(c.Context)
			defer stop()
			return m.Run(ctx)
		},
	}
}

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run the node agent: hold the node's lease, publish its state, drive its hypervisor",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "credentials", Required: true, Usage: "credentials file from drover node add"},
			&cli.DurationFlag{Name: "lease-ttl", Usage: "override the lease TTL from the credentials"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics at http://ADDR/metrics (docs/metrics.md)"},
			&cli.StringFlag{Name: "pid-file", Usage: "write the pid here"},
			&cli.StringFlag{Name: "watchdog", Value: "auto", Usage: "watchdog device armed as the last resort of self-fencing: auto (/dev/watchdog when it exists), a path, or none"},
			&cli.StringFlag{Name: "os-search-path", Usage: "where Ganeti OS definitions are, colon-separated (default /srv/ganeti/os:/usr/local/lib/ganeti/os:/usr/lib/ganeti/os:/usr/share/ganeti/os)"},
			&cli.StringSliceFlag{Name: "guest-pid-dir", Usage: "directory of libvirt guest pid files killed when self-fencing finds the hypervisor hung (default /run/libvirt/qemu and /run/libvirt/lxc)"},
			logLevelFlag(),
		}, append(hypervisorFlags(), blockStorageFlags()...)...),
		Action: func(c *cli.Context) error {
			log := daemonLogger(c)
			dumpOnSIGUSR1(log)
			cred, err := nodeagent.ReadCredentials(c.String("credentials"))
			if err != nil {
				return err
			}
			// First thing: keep the lease of this agent's previous process
			// (if it crashed) alive while the hypervisor, volume group and
			// DRBD tools are opened (nodeagent/lease_bridge.go).
			bridge := nodeagent.StartLeaseBridge(cred, storageDir(c, cred.Node), c.Duration("lease-ttl"), nil, log)
			defer bridge.Stop()
			drv, err := openDriver(c, log)
			if err != nil {
				return err
			}
			defer drv.Close()
			if err := writePidFile(c.String("pid-file")); err != nil {
				return err
			}
			ctx, stop := signalContext(c.Context)
			defer stop()
			var metrics *nodeagent.Metrics
			if addr := c.String("metrics-listen"); addr != "" {
				metrics = nodeagent.NewMetrics(cred.Node)
				drv = metrics.InstrumentDriver(drv)
				if err := metrics.Serve(ctx, addr, log); err != nil {
					return fmt.Errorf("metrics listen %s: %w", addr, err)
				}
			}
			block, err := openBlockStorage(c, cred.Node, log)
			if err != nil {
				return err
			}
			a, err := nodeagent.New(nodeagent.Config{Block: block,
				Credentials: cred, Driver: drv, LeaseTTL: c.Duration("lease-ttl"),
				StorageDir: storageDir(c, cred.Node), StagingDir: c.String("staging-dir"),
				APIToken: nodeagent.ReadAPIToken(c.String("credentials")),
				Metrics:  metrics, OSSearchPath: filepath.SplitList(c.String("os-search-path")),
				Migration: nodeagent.MigrationEndpoint{URI: c.String("migration-uri"), Address: c.String("migration-address")},
				Fence:     nodeagent.FenceConfig{PidDirs: c.StringSlice("guest-pid-dir"), Watchdog: watchdogDevice(c.String("watchdog"))},
				Bridge:    bridge,
			}, log)
			if err != nil {
				return err
			}
			log.Info("agent_started", "node", cred.Node, "hypervisor", drv.Name(), "storage", storageDir(c, cred.Node))
			return a.Run(ctx)
		},
	}
}

// watchdogDevice resolves the agent's --watchdog flag: auto arms
// /dev/watchdog when it exists, none (or "") arms nothing.
func watchdogDevice(flag string) string {
	switch flag {
	case "none", "":
		return ""
	case "auto":
		if _, err := os.Stat("/dev/watchdog"); err == nil {
			return "/dev/watchdog"
		}
		return ""
	}
	return flag
}

func writePidFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

var _ = time.Second

// agentMetricsPort is where local up's agents serve /metrics, each on its
// own address.
const agentMetricsPort = 9105

// rapiAnonymousReadsFlag lets Ganeti RAPI GETs through without credentials
// (htools' -m sends none); see docs/rapi.md.
func rapiAnonymousReadsFlag() cli.Flag {
	return &cli.BoolFlag{Name: "rapi-anonymous-reads", Usage: "allow Ganeti RAPI reads (GET /2/...) without credentials, as htools -m needs"}
}
