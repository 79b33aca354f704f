package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence/ipmisim"
)

// bmcConf is what local up keeps of a node guest's BMC (DIR/vm/NODE/bmc.json,
// mode 0600: it holds the password): the same port and password at every
// local up, so the registered fence device stays right.
type bmcConf struct {
	Port     int    `json:"port"`
	Password string `json:"password"`
}

// bmcName is the local process name of node's BMC.
func bmcName(node string) string { return node + "-bmc" }

// startBMCs gives every node guest an OpenIPMI ipmi_sim BMC on loopback
// whose chassis control is `drover local chassis` (power off kills the
// guest, power on boots it again) and registers it as the node's fence
// device (fence_ipmilan). Without openipmi/fence-agents the guests get no
// BMC, and local up says so.
func (v *vmCluster) startBMCs(ctx context.Context, cl *api.Client, self string, out io.Writer) error {
	if err := ipmisim.Check(); err != nil {
		fmt.Fprintf(out, "Node guests get no BMC (STONITH): %v\n", err)
		return nil
	}
	for i := 1; i <= v.n; i++ {
		name := fmt.Sprintf("node%d", i)
		conf, err := v.bmcConf(name)
		if err != nil {
			return err
		}
		b, err := ipmisim.Configure(ipmisim.Options{Dir: v.vmDir(name, "bmc"), Name: name, Port: conf.Port,
			User: "admin", Password: conf.Password, Chassis: []string{self, "local", "chassis", "--dir", string(v.dir), name}})
		if err != nil {
			return err
		}
		s := procSpec{Name: bmcName(name), Kind: "bmc", Exe: ipmisim.Binary, Args: b.Args}
		if err := v.dir.saveSpec(s); err != nil {
			return err
		}
		cmd, err := v.dir.start(self, s)
		if err != nil {
			return err
		}
		reap([]*exec.Cmd{cmd})
		if err := b.WaitReady(ctx, 30*time.Second); err != nil {
			return err
		}
		d := b.Device()
		if _, err := cl.SetNodeFence(ctx, name, &api.NodeFence{Agent: d.Agent, Params: d.Params}); err != nil {
			return fmt.Errorf("register the BMC of %s: %w", name, err)
		}
		fmt.Fprintf(out, "BMC of %s: ipmi_sim on 127.0.0.1:%d (pid %d), fence device fence_ipmilan\n", name, conf.Port, cmd.Process.Pid)
	}
	return nil
}

// bmcConf reads the node's BMC settings, or makes them.
func (v *vmCluster) bmcConf(node string) (bmcConf, error) {
	path := v.vmDir(node, "bmc.json")
	var c bmcConf
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &c) == nil && c.Port > 0 && c.Password != "" {
		return c, nil
	}
	port, err := ipmisim.FreeUDPPort("127.0.0.1")
	if err != nil {
		return c, err
	}
	var pw [8]byte // 16 hex digits: IPMI passwords hold at most 16 (1.5) or 20 (2.0) bytes
	_, _ = rand.Read(pw[:])
	c = bmcConf{Port: port, Password: hex.EncodeToString(pw[:])}
	b, _ := json.Marshal(c)
	return c, os.WriteFile(path, b, 0o600)
}

// chassis is ipmi_sim's chassis control of a node guest (`drover local
// chassis --dir D NODE get power | set power 0|1 | set reset 1`): the
// guest's QEMU process is the node's power.
func chassis(d localDir, self, node string, args []string, out io.Writer) error {
	if len(args) < 2 {
		return usagef("local chassis: want get ... or set NAME VALUE ...")
	}
	switch args[0] {
	case "get":
		for _, p := range args[1:] {
			switch p {
			case "power":
				on := 0
				if _, ok := d.alive(node); ok {
					on = 1
				}
				fmt.Fprintf(out, "power:%d\n", on)
			case "boot":
				fmt.Fprintln(out, "boot:default")
			}
		}
		return nil
	case "set":
		for i := 1; i+1 < len(args); i += 2 {
			var err error
			switch k, val := args[i], args[i+1]; {
			case k == "power" && val == "0":
				err = powerOff(d, node)
			case k == "power":
				err = powerOn(d, self, node)
			case k == "reset":
				if err = powerOff(d, node); err == nil {
					err = powerOn(d, self, node)
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return usagef("local chassis: unknown operation %q", args[0])
}

// powerOff kills the guest's QEMU at once (SIGKILL: a power cut, no
// shutdown) and waits until it is gone.
func powerOff(d localDir, node string) error {
	pid, ok := d.alive(node)
	if !ok {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("power off %s: %w", node, err)
	}
	for deadline := time.Now().Add(10 * time.Second); processAlive(pid); {
		if time.Now().After(deadline) {
			return fmt.Errorf("power off %s: QEMU (pid %d) still runs", node, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// powerOn boots the guest again from its recorded command line.
func powerOn(d localDir, self, node string) error {
	if _, ok := d.alive(node); ok {
		return nil
	}
	s, err := d.loadSpec(node)
	if err != nil {
		return err
	}
	cmd, err := d.start(self, s)
	if err != nil {
		return err
	}
	return cmd.Process.Release()
}
