package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// guestFaultPort is where a node guest's /init listens for lab faults
// (nodeagent/vmnode: kill-agent, slow-disk, fail-disk, heal-disk, dump-agent); reachable only from the host end of
// the guests' link.
const guestFaultPort = 7999

// localChassisCommand is the chassis control ipmi_sim calls (hidden).
func localChassisCommand(dirFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      "chassis",
		Usage:     "power control of a node guest, called by its BMC (ipmi_sim)",
		ArgsUsage: "NODE get power|set power 0|1|set reset 1",
		Hidden:    true,
		Flags:     []cli.Flag{dirFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() < 3 {
				return usagef("local chassis needs NODE and an operation")
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			return chassis(localDir(absPath(c.String("dir"))), self, c.Args().First(), c.Args().Slice()[1:], c.App.Writer)
		},
	}
}

// localFaultCommand is `drover local fault`: lab faults on node guests.
func localFaultCommand(dirFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      "fault",
		Usage:     "inject a fault into a node guest of a local cluster (lab): power loss, cut link, healed link, agent crash, slow, failing or healed disk",
		ArgsUsage: "NODE",
		Flags: []cli.Flag{dirFlag,
			&cli.BoolFlag{Name: "power-off", Usage: "power loss: kill the guest's QEMU at once (SIGKILL)"},
			&cli.BoolFlag{Name: "isolate", Usage: "cut the guest's link (its tap device in the namespace goes down): the node lives on, cut off"},
			&cli.BoolFlag{Name: "heal", Usage: "undo --isolate (the tap device comes up again)"},
			&cli.BoolFlag{Name: "kill-agent", Usage: "kill -9 the agent inside the guest (its /init starts it again 2 s later)"},
			&cli.BoolFlag{Name: "slow-disk", Usage: "the guest's disk (under its VG and DRBD) becomes slow: every read and write waits 500 ms (dm-delay)"},
			&cli.BoolFlag{Name: "fail-disk", Usage: "the guest's disk fails: every read and write returns an error (dm-flakey)"},
			&cli.BoolFlag{Name: "heal-disk", Usage: "undo --slow-disk or --fail-disk (the disk is healthy again)"},
			&cli.BoolFlag{Name: "dump-agent", Usage: "not a fault: the agent writes every goroutine's stack to its log (the guest's console.log) and goes on (SIGUSR1)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("local fault needs one node guest's name (node1, ...)")
			}
			set, err := faultChosen(c.Bool)
			if err != nil {
				return err
			}
			d := localDir(absPath(c.String("dir")))
			node := c.Args().First()
			s, err := d.loadSpec(node)
			if err != nil {
				return err
			}
			if s.Kind != "vm" {
				return usagef("local fault works on node guests (local up --vm-nodes); %s is a %s", node, s.Kind)
			}
			if err := localFault(d, node, set); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), node, set)
			return nil
		},
	}
}

// localFaults are the verbs of drover local fault, one per call.
var localFaults = []string{"power-off", "isolate", "heal", "kill-agent", "slow-disk", "fail-disk", "heal-disk", "dump-agent"}

// faultChosen is the one fault flag set (isSet reads a flag), or a usage
// error when none or several are.
func faultChosen(isSet func(string) bool) (string, error) {
	var set []string
	for _, f := range localFaults {
		if isSet(f) {
			set = append(set, f)
		}
	}
	if len(set) != 1 {
		return "", usagef("local fault needs exactly one of --%s (got %d)", strings.Join(localFaults, ", --"), len(set))
	}
	return set[0], nil
}

// localFault injects one fault into node guest node.
func localFault(d localDir, node, fault string) error {
	vn, idx, err := guestNet(d, node)
	if err != nil {
		return err
	}
	switch fault {
	case "power-off":
		return powerOff(d, node)
	case "isolate":
		return ipCmd("-n", vn.NS, "link", "set", vn.tap(idx), "down")
	case "heal":
		return ipCmd("-n", vn.NS, "link", "set", vn.tap(idx), "up")
	case "kill-agent", "slow-disk", "fail-disk", "heal-disk", "dump-agent":
		return guestFault(vn.nodeIP(idx), fault)
	}
	return usagef("unknown fault %q", fault)
}

// guestNet reads the guests' link and node's index (node3 -> 3).
func guestNet(d localDir, node string) (vmNet, int, error) {
	var vn vmNet
	b, err := os.ReadFile(filepath.Join(string(d), "vm", "net.json"))
	if err != nil {
		return vn, 0, fmt.Errorf("no node guests' link in %s: %w", d, err)
	}
	if err := json.Unmarshal(b, &vn); err != nil {
		return vn, 0, err
	}
	var i int
	if _, err := fmt.Sscanf(node, "node%d", &i); err != nil || i < 1 {
		return vn, 0, usagef("node guest %q: want nodeN", node)
	}
	return vn, i, nil
}

// guestFault sends one fault command to a guest's /init and reads its answer.
func guestFault(ip, cmd string) error {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, fmt.Sprint(guestFaultPort)), 5*time.Second)
	if err != nil {
		return fmt.Errorf("fault %s at %s: %w", cmd, ip, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(conn, cmd); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("fault %s at %s: no answer: %w", cmd, ip, err)
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return fmt.Errorf("fault %s at %s: %s", cmd, ip, line)
	}
	return nil
}
