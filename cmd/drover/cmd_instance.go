package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

var instanceFields = fieldSet[api.Instance]{
	defaults: []string{"name", "hv", "os", "pnode", "status", "memory"},
	fields: []field[api.Instance]{
		{"name", "Instance", func(i api.Instance) string { return i.Name }},
		{"hv", "Hypervisor", func(i api.Instance) string { return i.Hypervisor }},
		{"os", "OS", func(i api.Instance) string { return i.OS }},
		{"os_version", "OSVersion", func(i api.Instance) string { return strconv.Itoa(i.OSVersion) }},
		{"pnode", "Primary_node", func(i api.Instance) string { return i.PrimaryNode }},
		{"status", "Status", func(i api.Instance) string { return i.Status }},
		{"admin_state", "Admin_state", func(i api.Instance) string { return i.AdminState }},
		{"oper_state", "Oper_state", func(i api.Instance) string { return orDash(i.OperState) }},
		{"redundancy", "Redundancy", func(i api.Instance) string { return orDash(i.Redundancy) }},
		{"memory", "Memory", func(i api.Instance) string { return fmtMiB(i.MemoryMiB) }},
		{"vcpus", "VCPUs", func(i api.Instance) string { return strconv.Itoa(i.VCPUs) }},
		{"disk_template", "Disk_template", func(i api.Instance) string { return i.DiskTemplate }},
		{"disk_sizes", "Disk_sizes", func(i api.Instance) string {
			var s []string
			for _, d := range i.Disks {
				s = append(s, fmtMiB(d.SizeMiB))
			}
			return orDash(strings.Join(s, ","))
		}},
		{"nic_macs", "NIC_MACs", func(i api.Instance) string {
			var s []string
			for _, n := range i.NICs {
				s = append(s, n.MAC)
			}
			return orDash(strings.Join(s, ","))
		}},
		{"nic_links", "NIC_links", func(i api.Instance) string {
			var s []string
			for _, n := range i.NICs {
				s = append(s, orDash(n.Link))
			}
			return orDash(strings.Join(s, ","))
		}},
		{"restarts", "Restarts", func(i api.Instance) string { return strconv.Itoa(i.Restarts) }},
		{"ha_priority", "HA_priority", func(i api.Instance) string { return strconv.Itoa(i.HAPriority) }},
		{"migration_threshold", "Migration_threshold", func(i api.Instance) string { return strconv.Itoa(i.MigrationThreshold) }},
		{"failback", "Failback", func(i api.Instance) string { return onOff(i.Failback) }},
		{"location", "Location", func(i api.Instance) string { return orDash(fmtLocation(i.Location)) }},
		{"uuid", "UUID", func(i api.Instance) string { return i.UUID }},
		{"created", "Created", func(i api.Instance) string { return fmtTime(&i.CreatedAt) }},
	},
	sizes: map[string]func(api.Instance) []int64{
		"memory": func(i api.Instance) []int64 { return []int64{i.MemoryMiB} },
		"disk_sizes": func(i api.Instance) []int64 {
			var s []int64
			for _, d := range i.Disks {
				s = append(s, d.SizeMiB)
			}
			return s
		},
	},
}

// fmtMiB prints MiB as Ganeti does (512M, 2.0G).
func fmtMiB(n int64) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%dG", n/1024)
	}
	if n >= 1024 {
		return fmt.Sprintf("%.1fG", float64(n)/1024)
	}
	return fmt.Sprintf("%dM", n)
}

// parseMiB reads a size: plain MiB, or a number with unit M, G or T
// (binary; an optional trailing "iB" or "B" is accepted).
func parseMiB(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "T"):
		mult, t = 1024*1024, strings.TrimSuffix(t, "T")
	case strings.HasSuffix(t, "G"):
		mult, t = 1024, strings.TrimSuffix(t, "G")
	case strings.HasSuffix(t, "M"):
		t = strings.TrimSuffix(t, "M")
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*mult > 1<<40 {
		return 0, usagef("size %q: want MiB or a number with unit M, G or T (512M, 10G)", s)
	}
	return int64(v * mult), nil
}

// parseBE reads -B vcpus=N,memory=SIZE (Ganeti's maxmem/minmem are read
// as memory).
func parseBE(s string) (vcpus *int, mem *int64, err error) {
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, nil, usagef("-B %q: want key=value", kv)
		}
		switch strings.TrimSpace(k) {
		case "vcpus":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 {
				return nil, nil, usagef("-B vcpus=%q: want a positive number", v)
			}
			vcpus = &n
		case "memory", "maxmem", "minmem":
			n, err := parseMiB(v)
			if err != nil {
				return nil, nil, err
			}
			mem = &n
		default:
			return nil, nil, usagef("-B %s: unknown parameter (vcpus, memory, "+haBEKeys+")", k)
		}
	}
	return vcpus, mem, nil
}

// instanceAddRequest builds the InstanceAdd of `instance add`.
func instanceAddRequest(c *cli.Context) (api.InstanceAdd, error) {
	if c.NArg() != 1 {
		return api.InstanceAdd{}, usagef("instance add needs one instance name")
	}
	a := api.InstanceAdd{
		Name: c.Args().First(), DiskTemplate: c.String("disk-template"), OS: c.String("os"),
		Hypervisor: c.String("hypervisor"), NoStart: c.Bool("no-start"),
		NoWaitForSync: c.Bool("no-wait-for-sync"), NoInstall: c.Bool("no-install"), VCPUs: 1, MemoryMiB: 512,
	}
	a.Node, a.SecondaryNode, _ = strings.Cut(c.String("node"), ":")
	var err error
	if a.Disks, err = parseDisks(c.StringSlice("disk")); err != nil {
		return a, err
	}
	if a.OSParams, err = parseOSParams(c.String("os-parameters")); err != nil {
		return a, err
	}
	if b := c.String("backend-parameters"); b != "" {
		ha, b, err := parseHABE(b)
		if err != nil {
			return a, err
		}
		ha.Apply(&a.InstanceHA)
		v, m, err := parseBE(b)
		if err != nil {
			return a, err
		}
		if v != nil {
			a.VCPUs = *v
		}
		if m != nil {
			a.MemoryMiB = *m
		}
	}
	if a.NICs, err = parseNICs(c.StringSlice("net")); err != nil {
		return a, err
	}
	for _, f := range c.StringSlice("ssh-key") {
		b, err := os.ReadFile(f)
		if err != nil {
			return a, usagef("--ssh-key: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				a.SSHKeys = append(a.SSHKeys, l)
			}
		}
	}
	if err := a.Validate(); err != nil {
		return a, usagef("%s", api.AsError(err).Message)
	}
	return a, nil
}

// oneInstance is the action of verbs that take one instance name and submit
// one job.
func oneInstance(verb string, confirmQ string, submit func(c *cli.Context, cl *api.Client, name string) (uint64, error)) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 1 {
			return usagef("instance %s needs one instance name", verb)
		}
		name := c.Args().First()
		if err := api.ValidHostname(name); err != nil {
			return usagef("invalid instance name: %v", err)
		}
		if confirmQ != "" {
			if err := confirm(c, fmt.Sprintf(confirmQ, name)); err != nil {
				return err
			}
		}
		cl, err := newClient(c)
		if err != nil {
			return err
		}
		id, err := submit(c, cl, name)
		if err != nil {
			return err
		}
		return followJob(c, cl, id)
	}
}

func forceFlag() cli.Flag {
	return &cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"}
}

func instanceCommand() *cli.Command {
	return &cli.Command{
		Name:  "instance",
		Usage: "add, list, start, stop and remove instances (gnt-instance)",
		Subcommands: append([]*cli.Command{
			instanceMigrateCommand(),
			instanceBatchCommand(),
			{
				Name:      "add",
				Usage:     "create an instance from a template on a node",
				ArgsUsage: "NAME",
				Flags: append(submitFlags(),
					&cli.StringFlag{Name: "disk-template", Aliases: []string{"t"}, Required: true, Usage: "file, diskless, plain or drbd"},
					&cli.StringFlag{Name: "os", Aliases: []string{"o"}, Required: true, Usage: "template: NAME or NAME@VERSION; or a Ganeti OS definition on the node: NAME+VARIANT"},
					&cli.StringFlag{Name: "os-parameters", Aliases: []string{"O"}, Usage: "parameters of a Ganeti OS definition: name=value,... (OSP_NAME)"},
					&cli.StringFlag{Name: "node", Aliases: []string{"n"}, Usage: "primary node, PRIMARY:SECONDARY for drbd (default: the allocator chooses)"},
					&cli.BoolFlag{Name: "no-wait-for-sync", Usage: "drbd: do not wait for the first sync of the disks"},
					&cli.BoolFlag{Name: "no-install", Usage: "create the disks without installing the template onto them"},
					&cli.StringSliceFlag{Name: "disk", Usage: "a disk: SIZE (512M, 10G, MiB) or Ganeti's N:size=SIZE; repeat for more"},
					&cli.StringFlag{Name: "backend-parameters", Aliases: []string{"B"}, Usage: "vcpus=N,memory=SIZE,ha_priority=N,migration_threshold=N,failback=on|off,location=NODE:SCORE,... (default vcpus=1,memory=512M)"},
					&cli.StringSliceFlag{Name: "net", Usage: "a NIC: link=BRIDGE, or Ganeti's N:link=BRIDGE or N; repeat for more"},
					&cli.StringFlag{Name: "hypervisor", Aliases: []string{"H"}, Usage: "kvm, lxc, xen, openvz, test or fake; must match the node's"},
					&cli.StringSliceFlag{Name: "ssh-key", Usage: "file of SSH public keys for root"},
					&cli.BoolFlag{Name: "no-start", Usage: "do not start the instance (ADMIN_down)"},
				),
				Action: func(c *cli.Context) error {
					a, err := instanceAddRequest(c)
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					id, err := cl.AddInstance(c.Context, a)
					if err != nil {
						return err
					}
					return followJob(c, cl, id)
				},
			},
			{
				Name: "remove", Usage: "remove an instance and its disks", ArgsUsage: "NAME",
				Flags: append(submitFlags(), forceFlag()),
				Action: oneInstance("remove", "Remove instance %s and its disks?", func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
					return cl.RemoveInstance(c.Context, n)
				}),
			},
			{
				Name: "startup", Aliases: []string{"start"}, Usage: "start an instance (and mark it up)", ArgsUsage: "NAME",
				Flags: submitFlags(),
				Action: oneInstance("startup", "", func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
					return cl.StartupInstance(c.Context, n)
				}),
			},
			{
				Name: "shutdown", Aliases: []string{"stop"}, Usage: "shut an instance down (and mark it down)", ArgsUsage: "NAME",
				Flags: append(submitFlags(), &cli.StringFlag{Name: "timeout", Usage: "time the guest gets before it is destroyed (Go duration, default 2m)"}),
				Action: oneInstance("shutdown", "", func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
					return cl.ShutdownInstance(c.Context, n, api.ShutdownOptions{Timeout: c.String("timeout")})
				}),
			},
			{
				Name: "reboot", Usage: "reboot a running instance", ArgsUsage: "NAME",
				Flags: submitFlags(),
				Action: oneInstance("reboot", "", func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
					return cl.RebootInstance(c.Context, n)
				}),
			},
			{
				Name: "reinstall", Usage: "reinstall the OS of a stopped instance (its disks are overwritten)", ArgsUsage: "NAME",
				Flags: append(submitFlags(), forceFlag(), &cli.StringFlag{Name: "os", Aliases: []string{"o"}, Usage: "another template"}),
				Action: oneInstance("reinstall", "Reinstall instance %s? Its disks are overwritten.", func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
					return cl.ReinstallInstance(c.Context, n, api.ReinstallOptions{OS: c.String("os")})
				}),
			},
			{
				Name: "rename", Usage: "rename a stopped instance", ArgsUsage: "NAME NEW_NAME",
				Flags: submitFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return usagef("instance rename needs the instance name and the new name")
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					id, err := cl.RenameInstance(c.Context, c.Args().Get(0), c.Args().Get(1))
					if err != nil {
						return err
					}
					return followJob(c, cl, id)
				},
			},
			{
				Name: "grow-disk", Usage: "grow a disk of an instance by AMOUNT (512M, 10G, MiB)", ArgsUsage: "NAME DISK AMOUNT",
				Flags: submitFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() != 3 {
						return usagef("instance grow-disk needs NAME DISK AMOUNT")
					}
					idx, err := strconv.Atoi(c.Args().Get(1))
					if err != nil || idx < 0 {
						return usagef("disk index %q: want 0, 1, ...", c.Args().Get(1))
					}
					amount, err := parseMiB(c.Args().Get(2))
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					id, err := cl.GrowDisk(c.Context, c.Args().Get(0), api.GrowDiskOptions{Disk: idx, AmountMiB: amount})
					if err != nil {
						return err
					}
					return followJob(c, cl, id)
				},
			},
			{
				Name: "modify", Usage: "change vcpus, memory, the service address or HA properties (-B); a running instance gets vcpus and memory at its next start", ArgsUsage: "NAME",
				Flags: append(submitFlags(), &cli.StringFlag{Name: "backend-parameters", Aliases: []string{"B"}, Usage: "vcpus=N,memory=SIZE,service_ip=ADDR/PREFIX@DEV,ha_priority=N,migration_threshold=N,failback=on|off,location=NODE:SCORE,... (service_ip= removes it)"}),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("instance modify needs one instance name")
					}
					if c.String("backend-parameters") == "" {
						return usagef("instance modify: nothing to change (use -B vcpus=N,memory=SIZE,service_ip=ADDR/PREFIX@DEV,ha_priority=N,...)")
					}
					req, err := instanceModifyRequest(c.String("backend-parameters"))
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					id, err := cl.ModifyInstance(c.Context, c.Args().First(), req)
					if err != nil {
						return err
					}
					return followJob(c, cl, id)
				},
			},
			{
				Name: "list", Usage: "list instances (all, or those named); filters run on the masters", ArgsUsage: "[NAME...]",
				Flags: append(listFlags(), instanceFilterFlags()...),
				Action: func(c *cli.Context) error {
					q, err := instanceQuery(c)
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					insts, err := cl.ListInstances(c.Context, q)
					if err != nil {
						return err
					}
					if insts, err = filterNamed("instance", insts, c.Args().Slice(), func(i api.Instance) string { return i.Name }); err != nil {
						return err
					}
					return printList(c, instanceFields, insts)
				},
			},
			{Name: "info", Usage: "show instances in detail", ArgsUsage: "[NAME...]", Action: instanceInfo},
			{
				Name: "console", Usage: "print the end of an instance's serial console log", ArgsUsage: "NAME",
				Flags: []cli.Flag{&cli.IntFlag{Name: "bytes", Value: api.DefaultConsoleBytes, Usage: "how much of the log's end"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("instance console needs one instance name")
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					out, err := cl.InstanceConsole(c.Context, c.Args().First(), c.Int("bytes"))
					if err != nil {
						return err
					}
					if outputJSON(c) {
						return printJSON(c.App.Writer, out)
					}
					_, err = io.WriteString(c.App.Writer, out.Output)
					return err
				},
			},
		}, append(instanceDRBDCommands(), instanceHACommands()...)...),
	}
}

func instanceInfo(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	var insts []api.Instance
	if c.NArg() == 0 {
		if insts, err = cl.ListInstances(c.Context, api.InstanceQuery{}); err != nil {
			return err
		}
	} else {
		for _, n := range c.Args().Slice() {
			in, err := cl.GetInstance(c.Context, n)
			if err != nil {
				return err
			}
			insts = append(insts, *in)
		}
	}
	if outputJSON(c) {
		return printJSON(c.App.Writer, insts)
	}
	w := c.App.Writer
	for _, i := range insts {
		fmt.Fprintf(w, "Instance name: %s\n", i.Name)
		fmt.Fprintf(w, "  UUID: %s\n", i.UUID)
		fmt.Fprintf(w, "  Created: %s\n", fmtTime(&i.CreatedAt))
		fmt.Fprintf(w, "  State: configured to be %s, actual state is %s (status %s)\n", i.AdminState, orDash(i.OperState), i.Status)
		if i.Restarts > 0 || i.GaveUp {
			fmt.Fprintf(w, "  Automatic restarts: %d (gave up: %s)\n", i.Restarts, yesNo(i.GaveUp))
		}
		fmt.Fprintf(w, "  Primary node: %s\n", i.PrimaryNode)
		if len(i.SecondaryNodes) > 0 {
			fmt.Fprintf(w, "  Secondary nodes: %s\n", strings.Join(i.SecondaryNodes, ", "))
		}
		if i.OSVersion == 0 { // a Ganeti OS definition on the node
			fmt.Fprintf(w, "  Operating system: %s (Ganeti OS definition)\n", i.OS)
		} else {
			fmt.Fprintf(w, "  Operating system: %s@%d\n", i.OS, i.OSVersion)
		}
		fmt.Fprintf(w, "  Hypervisor: %s\n", i.Hypervisor)
		fmt.Fprintf(w, "  Backend parameters: vcpus=%d, memory=%s\n", i.VCPUs, fmtMiB(i.MemoryMiB))
		if i.ServiceIP != "" {
			fmt.Fprintf(w, "  Service IP: %s (held by the node that runs the instance)\n", i.ServiceIP)
		}
		printInstanceHA(w, i)
		fmt.Fprintf(w, "  Disk template: %s\n", i.DiskTemplate)
		for n, d := range i.Disks {
			fmt.Fprintf(w, "    - disk/%d: %s\n", n, fmtMiB(d.SizeMiB))
			printInstanceDRBD(w, i.DRBD, n)
		}
		if i.DisksActive != nil && !*i.DisksActive {
			fmt.Fprintf(w, "  Disks: deactivated (instance activate-disks)\n")
		}
		for n, nic := range i.NICs {
			fmt.Fprintf(w, "    - nic/%d: mac %s, link %s\n", n, nic.MAC, orDash(nic.Link))
		}
	}
	return nil
}
