// Package ipmisim runs OpenIPMI's ipmi_sim as the BMC of one simulated node
// on loopback (a lab part, not a product part): fence_ipmilan talks IPMI
// over LAN to it, and it calls a chassis program for the power, which
// powers the node off by killing its process and on by starting it again.
// The recipe is shared/lab/stonith-ipmi.sh.
package ipmisim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drover-project/drover/master/fence"
)

// Options describe one BMC.
type Options struct {
	// Dir holds its configuration and state (created).
	Dir string
	// Name is the node's name (in the BMC's configuration).
	Name string
	// Addr and Port are where it listens for IPMI over LAN (UDP); Port 0
	// picks a free one.
	Addr string
	Port int
	// User and Password are the BMC's administrator.
	User, Password string
	// Chassis is the program and leading arguments ipmi_sim calls as
	// `Chassis... get power`, `set power 0|1`, `set reset 1` (no spaces
	// inside one argument: ipmi_sim splits the line).
	Chassis []string
}

// BMC is a configured ipmi_sim.
type BMC struct {
	Options
	// Args are ipmi_sim's arguments.
	Args []string
}

// Binary is ipmi_sim (Debian package openipmi).
const Binary = "ipmi_sim"

// Check says whether ipmi_sim and fence_ipmilan are installed.
func Check() error {
	if _, err := exec.LookPath(Binary); err != nil {
		return fmt.Errorf("%s not found (Debian package openipmi)", Binary)
	}
	for _, p := range []string{"/usr/sbin/fence_ipmilan", "/sbin/fence_ipmilan"} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	if _, err := exec.LookPath("fence_ipmilan"); err != nil {
		return errors.New("fence_ipmilan not found (Debian packages fence-agents, ipmitool)")
	}
	return nil
}

// FreeUDPPort asks the kernel for a free UDP port on addr.
func FreeUDPPort(addr string) (int, error) {
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("ipmisim: free port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// Configure writes lan.conf and sim.emu into o.Dir and returns the BMC.
func Configure(o Options) (*BMC, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1"
	}
	if o.User == "" || o.Password == "" || len(o.Chassis) == 0 || o.Name == "" {
		return nil, errors.New("ipmisim: name, user, password and chassis program are required")
	}
	for _, s := range append([]string{o.Name, o.User, o.Password, o.Dir}, o.Chassis...) {
		if strings.ContainsAny(s, " \t\n\"") {
			return nil, fmt.Errorf("ipmisim: %q: no blanks or quotes allowed in the BMC's configuration", s)
		}
	}
	if len(o.Password) > 16 || len(o.User) > 16 {
		// IPMI 1.5 holds 16 bytes (2.0: 20); a longer one never authenticates.
		return nil, errors.New("ipmisim: user and password may have at most 16 characters (IPMI)")
	}
	if o.Port == 0 {
		p, err := FreeUDPPort(o.Addr)
		if err != nil {
			return nil, err
		}
		o.Port = p
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "state"), 0o700); err != nil {
		return nil, fmt.Errorf("ipmisim: %w", err)
	}
	auths := "none md2 md5 straight"
	lan := fmt.Sprintf(`name "%s"
set_working_mc 0x20
  startlan 1
    addr %s %d
    priv_limit admin
    allowed_auths_callback %[4]s
    allowed_auths_user %[4]s
    allowed_auths_operator %[4]s
    allowed_auths_admin %[4]s
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s"
  user 2 true "%s" "%s" admin 10 %[4]s
`, o.Name, o.Addr, o.Port, auths, strings.Join(o.Chassis, " "), o.User, o.Password)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n"
	lanFile, emuFile := filepath.Join(o.Dir, "lan.conf"), filepath.Join(o.Dir, "sim.emu")
	if err := os.WriteFile(lanFile, []byte(lan), 0o600); err != nil {
		return nil, fmt.Errorf("ipmisim: %w", err)
	}
	if err := os.WriteFile(emuFile, []byte(emu), 0o644); err != nil {
		return nil, fmt.Errorf("ipmisim: %w", err)
	}
	return &BMC{Options: o, Args: []string{"-c", lanFile, "-f", emuFile, "-s", filepath.Join(o.Dir, "state"), "-n"}}, nil
}

// Device is the fence_ipmilan device of this BMC: IPMI 2.0 (lanplus) with
// cipher suite 3, without which every ipmitool call first spends ~10 s
// probing suites.
func (b *BMC) Device() fence.Device {
	return fence.Device{Agent: "fence_ipmilan", Params: map[string]string{
		"ip": b.Addr, "ipport": strconv.Itoa(b.Port), "username": b.User, "password": b.Password,
		"lanplus": "1", "cipher": "3",
	}}
}

// Start runs ipmi_sim until ctx ends (or Stop) and waits until it answers
// a status.
func (b *BMC) Start(ctx context.Context) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, Binary, b.Args...)
	lf, err := os.OpenFile(filepath.Join(b.Dir, "ipmi_sim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ipmisim: %w", err)
	}
	defer lf.Close()
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ipmisim: start: %w", err)
	}
	if err := b.WaitReady(ctx, 15*time.Second); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return cmd, nil
}

// WaitReady waits until the BMC answers fence_ipmilan's status.
func (b *BMC) WaitReady(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	r := &fence.Runner{Timeout: 10 * time.Second}
	var last error
	for {
		if _, err := r.Status(ctx, b.Device()); err == nil {
			return nil
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ipmisim: BMC on %s:%d does not answer: %w", b.Addr, b.Port, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
