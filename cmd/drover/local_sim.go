package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/nodeagent"
	"github.com/drover-project/drover/nodeagent/sim"
)

// maxSimNodes bounds local up --sim-nodes (the addresses 127.3.x.y).
const maxSimNodes = 10000

// simNodeName is the name of simulated node i (1-based).
func simNodeName(i int) string { return fmt.Sprintf("sim%d", i) }

// simNodeIP gives simulated node i an address of its own on loopback
// (nothing listens there: the masters never dial agents).
func simNodeIP(i int) string { return fmt.Sprintf("127.3.%d.%d", i/250, i%250+1) }

// addSimNodes registers sim1..simN (node.add jobs of up to 100 opcodes, the
// limit of one job) and writes each one's credentials file in dir.
func addSimNodes(ctx context.Context, cl *api.Client, dir string, n int, out io.Writer) error {
	have := map[string]bool{}
	nodes, err := cl.ListNodes(ctx, api.NodeQuery{})
	if err != nil {
		return err
	}
	for _, nd := range nodes {
		have[nd.Name] = true
	}
	var ops []api.OpCode
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		id, err := cl.SubmitJob(ctx, api.JobSubmit{Ops: ops})
		if err != nil {
			return err
		}
		ops = nil
		j, err := cl.WaitForJob(ctx, id, nil)
		if err != nil {
			return err
		}
		if j.State != api.JobSuccess && j.Error != nil {
			return fmt.Errorf("node add job %d: %w", id, j.Error)
		}
		if j.State != api.JobSuccess {
			return fmt.Errorf("node add job %d ended %s", id, j.State)
		}
		return nil
	}
	for i := 1; i <= n; i++ {
		if have[simNodeName(i)] {
			continue
		}
		p, err := json.Marshal(api.NodeAdd{Name: simNodeName(i), PrimaryIP: simNodeIP(i), SecondaryIP: simNodeIP(i)})
		if err != nil {
			return err
		}
		ops = append(ops, api.OpCode{Kind: api.OpNodeAdd, Params: p})
		if len(ops) == api.MaxOpsPerJob {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "Registered %d simulated nodes (%d new)\n", n, n-len(have))
	return writeSimCredentials(ctx, cl, dir, n)
}

// writeSimCredentials writes the missing credentials files of sim1..simN,
// eight requests at a time.
func writeSimCredentials(ctx context.Context, cl *api.Client, dir string, n int) error {
	work := make(chan int)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				f := filepath.Join(dir, simNodeName(i)+".json")
				if _, err := os.Stat(f); err == nil {
					continue
				}
				cred, err := cl.NodeCredentials(ctx, simNodeName(i))
				for try := 0; try < 5 && api.CodeOf(err) == api.CodeUnavailable && ctx.Err() == nil; try++ {
					time.Sleep(time.Second) // a master between leaders, or a busy etcd
					cred, err = cl.NodeCredentials(ctx, simNodeName(i))
				}
				if err == nil {
					var b []byte
					if b, err = json.Marshal(cred); err == nil {
						err = os.WriteFile(f, b, 0o600)
					}
				}
				errs[i] = err
			}
		})
	}
	for i := 1; i <= n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}

// simNodesCommand runs the simulated nodes of a local cluster in one
// process (local up starts it; docs/scale.md).
func simNodesCommand() *cli.Command {
	return &cli.Command{
		Name:   "sim-nodes",
		Usage:  "run simulated nodes sim1..simN (real agents, fake hypervisor) in one process",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "credentials-dir", Required: true, Usage: "directory of the nodes' credentials files (simI.json)"},
			&cli.StringFlag{Name: "storage-dir", Required: true, Usage: "one storage directory per node under this"},
			&cli.IntFlag{Name: "count", Required: true, Usage: "number of nodes"},
			&cli.IntFlag{Name: "cpus", Value: 16, Usage: "CPUs of each node"},
			&cli.Int64Flag{Name: "memory-mib", Value: 64 << 10, Usage: "memory of each node"},
			&cli.StringFlag{Name: "pid-file", Usage: "write the pid here"},
			logLevelFlag(),
		},
		Action: func(c *cli.Context) error {
			log := daemonLogger(c)
			cfg := sim.Config{StorageRoot: c.String("storage-dir"), CPUs: c.Int("cpus"), MemoryMiB: c.Int64("memory-mib")}
			for i := 1; i <= c.Int("count"); i++ {
				cred, err := nodeagent.ReadCredentials(filepath.Join(c.String("credentials-dir"), simNodeName(i)+".json"))
				if err != nil {
					return err
				}
				cfg.Credentials = append(cfg.Credentials, cred)
			}
			if err := writePidFile(c.String("pid-file")); err != nil {
				return err
			}
			ctx, stop := signalContext(c.Context)
			defer stop()
			return sim.Run(ctx, cfg, log)
		},
	}
}

// startSimNodes registers n simulated nodes and starts the process that
// runs them (named "sim", an agent in local status and down).
func startSimNodes(ctx context.Context, cl *api.Client, d localDir, self string, n int, out io.Writer) error {
	credDir := filepath.Join(string(d), "nodes")
	if err := addSimNodes(ctx, cl, credDir, n, out); err != nil {
		return fmt.Errorf("simulated nodes: %w", err)
	}
	s := procSpec{Name: "sim", Kind: "agent", Args: []string{"sim-nodes", "--credentials-dir", credDir,
		"--storage-dir", filepath.Join(string(d), "storage", "sim"), "--count", fmt.Sprint(n)}}
	if err := d.saveSpec(s); err != nil {
		return err
	}
	cmd, err := d.start(self, s)
	if err != nil {
		return err
	}
	reap([]*exec.Cmd{cmd})
	fmt.Fprintf(out, "Started %d simulated nodes in one process (pid %d)\n", n, cmd.Process.Pid)
	return nil
}
