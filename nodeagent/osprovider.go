package nodeagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/templates"
)

// An instance whose record names an OS but no template artifact is
// installed by a Ganeti OS definition (docs/templates.md, "Ganeti OS
// definitions as providers"): the agent creates its disks, runs the OS's
// verify and create scripts on them with the documented environment, and
// copies the kernel and initrd the OS installed out of disk 0 for direct
// kernel boot.
func osDefinition(inst keys.InstanceRecord) bool { return inst.OS != "" && inst.OSDigest == "" }

// osCmdlineFile holds the kernel command line of an OS-definition
// instance (its root= depends on the layout the OS made) in its boot dir.
const osCmdlineFile = "cmdline"

// osSearchPath is where the executor looks for OS definitions.
func (x *Executor) osSearchPath() []string {
	if len(x.OSSearchPath) > 0 {
		return x.OSSearchPath
	}
	return templates.DefaultOSSearchPath
}

// installOS makes the disks of inst in storage directory dir and fills them
// with its OS definition (reinstall sets INSTANCE_REINSTALL=1).
func (x *Executor) installOS(ctx context.Context, inst keys.InstanceRecord, dir string, reinstall bool, progress func(string), log *slog.Logger) (*keys.CreateOutput, error) {
	if x.isContainer() || inst.DiskTemplate == api.DiskTemplateDiskless || len(inst.Disks) == 0 {
		return nil, api.Errorf(api.CodeWrongInput, "instance %s: Ganeti OS definition %s installs onto disks; a container or diskless instance needs a template", inst.Name, inst.OS)
	}
	def, variant, err := templates.FindOS(x.osSearchPath(), inst.OS)
	if err != nil {
		return nil, osError(err)
	}
	start := time.Now()
	out := &keys.CreateOutput{}
	if inst.DiskTemplate == "plain" || inst.DiskTemplate == "drbd" {
		if out, err = x.installBlock(ctx, inst, false, progress); err != nil {
			return nil, err
		}
	} else {
		for i, d := range inst.Disks {
			progress(fmt.Sprintf("create disk %d (%d MiB)", i, d.SizeMiB))
			p, err := x.store.CreateDisk(dir, i, d.SizeMiB)
			if err != nil {
				return nil, err
			}
			out.Disks = append(out.Disks, p)
		}
	}
	oi := x.osInstance(inst, variant, out.Disks)
	w := newLineProgress(progress, log.With("os", def.Name))
	defer w.Close()
	if def.Scripts["verify"] {
		progress("os " + inst.OS + ": verify parameters")
		if err := def.Verify(ctx, oi, w); err != nil {
			return nil, osError(err)
		}
	}
	progress("os " + inst.OS + ": create")
	if err := def.Create(ctx, oi, reinstall, w); err != nil {
		return nil, osError(err)
	}
	if kind := x.drv.Name(); kind == hv.KindKVM || kind == hv.KindXen {
		boot := x.store.BootDir(dir)
		b, err := templates.BootFromDisk(ctx, out.Disks[0], boot)
		if err != nil {
			return nil, fmt.Errorf("instance %s: find the kernel the OS installed: %w", inst.Name, err)
		}
		if b.Kernel == "" {
			progress("os " + inst.OS + ": no kernel in /boot of disk 0; the guest boots from its disk (its boot loader)")
		} else {
			dev := "vda"
			if kind == hv.KindXen {
				dev = "xvda"
			}
			cmdline := osCmdline(kind, b.RootDevice(dev))
			if err := os.WriteFile(filepath.Join(boot, osCmdlineFile), []byte(cmdline+"\n"), 0o644); err != nil {
				return nil, err
			}
			out.Kernel, out.Initrd = b.Kernel, b.Initrd
		}
	}
	out.InstallSeconds = time.Since(start).Seconds()
	return out, nil
}

// osCmdline is the direct-boot command line with root on dev.
func osCmdline(kind hv.Kind, root string) string {
	if kind == hv.KindXen {
		return "root=" + root + " ro console=hvc0 net.ifnames=0"
	}
	f := strings.Fields(templates.DefaultCmdline)
	for i, a := range f {
		if strings.HasPrefix(a, "root=") {
			f[i] = "root=" + root
		}
	}
	return strings.Join(f, " ")
}

// osKernelCmdline is the command line saved for an OS-definition instance
// ("" when there is none).
func (x *Executor) osKernelCmdline(name string) string {
	b, err := os.ReadFile(filepath.Join(x.store.BootDir(name), osCmdlineFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// osRename runs the OS's rename script after the instance was renamed to
// inst.Name. As in Ganeti, a failing rename script leaves the rename done
// (the guest keeps its old hostname) and is reported, not undone.
func (x *Executor) osRename(ctx context.Context, inst keys.InstanceRecord, oldName string) {
	def, variant, err := templates.FindOS(x.osSearchPath(), inst.OS)
	if err == nil && def.Scripts["rename"] {
		var disks []string
		for i := range inst.Disks {
			d, ok := x.blockDisk(inst, i)
			if !ok {
				d = hv.Disk{Path: x.store.DiskPath(inst.Name, i)}
			}
			disks = append(disks, d.Path)
		}
		w := newLineProgress(func(string) {}, x.log.With("os", def.Name, "instance", inst.Name))
		err = def.Rename(ctx, x.osInstance(inst, variant, disks), oldName, w)
		w.Close()
	}
	if err != nil {
		x.log.Warn("os_rename_failed", "instance", inst.Name, "old_name", oldName, "err", err)
	}
}

// osInstance is what the OS scripts are told about inst.
func (x *Executor) osInstance(inst keys.InstanceRecord, variant string, disks []string) templates.OSInstance {
	oi := templates.OSInstance{
		Name: inst.Name, Variant: variant, Hypervisor: ganetiHypervisor(x.drv.Name()), Params: inst.OSParams,
		BE: map[string]string{"vcpus": strconv.Itoa(inst.VCPUs), "memory": strconv.FormatInt(inst.MemoryMiB, 10),
			"maxmem": strconv.FormatInt(inst.MemoryMiB, 10), "minmem": strconv.FormatInt(inst.MemoryMiB, 10)},
	}
	if x.drv.Name() == hv.KindKVM {
		// drover's KVM domains always have a serial console (ttyS0).
		oi.HV = map[string]string{"serial_console": "True"}
	}
	for i, p := range disks {
		oi.Disks = append(oi.Disks, templates.OSDisk{Path: p, SizeMiB: inst.Disks[i].SizeMiB})
	}
	for _, n := range inst.NICs {
		mode := "bridged"
		if n.Link == "" {
			mode = ""
		}
		oi.NICs = append(oi.NICs, templates.OSNIC{MAC: n.MAC, Mode: mode, Link: n.Link})
	}
	return oi
}

// ganetiHypervisor is Ganeti's name of a drover hypervisor (HYPERVISOR).
func ganetiHypervisor(kind hv.Kind) string {
	switch kind {
	case hv.KindXen:
		return "xen-pvm"
	case hv.KindLXC:
		return "lxc"
	}
	return string(kind)
}

// osError maps a templates error to the API's codes.
func osError(err error) error {
	switch {
	case errors.Is(err, templates.ErrNotFound):
		return api.Errorf(api.CodeUnknownEntity, "%v", err)
	case errors.Is(err, templates.ErrInvalid):
		return api.Errorf(api.CodeWrongInput, "%v", err)
	}
	return err
}

// OSDefinitions lists the OS definitions on the node's search path, as
// published in its status.
func OSDefinitions(searchPath []string) []api.OSDefinition {
	var out []api.OSDefinition
	for _, o := range templates.ListOS(searchPath) {
		out = append(out, api.OSDefinition{Name: o.Name, Dir: o.Dir, APIVersions: o.APIVersions, Variants: o.Variants,
			Parameters: o.Parameters, Error: o.Error})
	}
	return out
}

// lineProgress turns script output into progress reports (the last line,
// throttled by the caller's progress) and debug log lines.
type lineProgress struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func newLineProgress(progress func(string), log *slog.Logger) *lineProgress {
	pr, pw := io.Pipe()
	l := &lineProgress{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			log.Debug("os_script_output", "line", line)
			progress(line)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return l
}

func (l *lineProgress) Write(b []byte) (int, error) { return l.pw.Write(b) }

// Close ends the stream and waits for the last lines to be reported.
func (l *lineProgress) Close() {
	_ = l.pw.Close()
	<-l.done
}
