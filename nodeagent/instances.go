package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/drover-project/drover/revert"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/storage"
	"github.com/drover-project/drover/templates"
)

// Default timeouts of instance commands.
const (
	DefaultShutdownTimeout = 120 * time.Second
	// defaultCommandTimeout bounds one command (template fetch and install
	// included) when the command gives none.
	defaultCommandTimeout = 30 * time.Minute
)

// TemplateFetcher returns the local path of the template blob with digest,
// downloading it into the cache when needed.
type TemplateFetcher func(ctx context.Context, digest string, urls []string, progress func(string)) (string, error)

// Executor runs the Cmd* kinds of NodeCommands on one node: storage, template
// install and the hypervisor driver. Commands on one instance are serialised;
// every kind is idempotent.
type Executor struct {
	drv     hv.Driver
	store   *storage.Manager
	fetch   TemplateFetcher
	staging string
	log     *slog.Logger
	// Block is the node's LVM/DRBD storage (nil: file disks only).
	Block *BlockStorage
	// OSSearchPath is where Ganeti OS definitions are (nil: Ganeti's).
	OSSearchPath []string
	// Migration is this node's migration endpoint (migrate.go).
	Migration MigrationEndpoint
	// serviceIPs learns the instances' service addresses from the
	// commands (serviceip.go; nil: none kept).
	serviceIPs *serviceIPs

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	busy  map[string]int
}

// NewExecutor returns an executor. staging is where templates are unpacked
// before mkfs: a directory, "disk" (next to the disk) or "" (a roomy tmpfs
// at /dev/shm if there is one, else next to the disk).
func NewExecutor(drv hv.Driver, store *storage.Manager, fetch TemplateFetcher, staging string, log *slog.Logger) *Executor {
	return &Executor{drv: drv, store: store, fetch: fetch, staging: staging, log: log,
		locks: map[string]*sync.Mutex{}, busy: map[string]int{}}
}

// lock serialises work on one instance; the returned func unlocks.
func (x *Executor) lock(name string) func() {
	x.mu.Lock()
	l := x.locks[name]
	if l == nil {
		l = &sync.Mutex{}
		x.locks[name] = l
	}
	x.busy[name]++
	x.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		x.mu.Lock()
		if x.busy[name]--; x.busy[name] == 0 {
			// Nobody holds or waits for the lock: forget it.
			delete(x.busy, name)
			delete(x.locks, name)
		}
		x.mu.Unlock()
	}
}

// Busy reports whether a command on instance name is queued or running.
func (x *Executor) Busy(name string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.busy[name] > 0
}

// cmdError is an api.Error from err, with a stable code.
func cmdError(err error) *api.Error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	code := api.CodeInternal
	switch {
	case errors.Is(err, hv.ErrNotFound), errors.Is(err, storage.ErrNotFound), errors.Is(err, templates.ErrNotFound):
		code = api.CodeUnknownEntity
	case errors.Is(err, hv.ErrAlreadyExists), errors.Is(err, storage.ErrExists), errors.Is(err, templates.ErrExists):
		code = api.CodeAlreadyExists
	case errors.Is(err, hv.ErrWrongState):
		code = api.CodeWrongState
	case errors.Is(err, hv.ErrInvalidSpec), errors.Is(err, storage.ErrInvalid), errors.Is(err, templates.ErrInvalid):
		code = api.CodeWrongInput
	case errors.Is(err, hv.ErrInsufficientResources), errors.Is(err, storage.ErrNoSpace):
		code = api.CodeInsufficientResources
	case errors.Is(err, hv.ErrHypervisorDown), errors.Is(err, context.DeadlineExceeded):
		code = api.CodeUnavailable
	}
	return &api.Error{Code: code, Message: err.Error()}
}

// Run executes one command and returns its output. progress receives short
// texts for the job log.
func (x *Executor) Run(ctx context.Context, cmd keys.NodeCommand, progress func(string)) (json.RawMessage, error) {
	if progress == nil {
		progress = func(string) {}
	}
	inst := cmd.Instance
	if inst.Name == "" {
		return nil, api.Errorf(api.CodeWrongInput, "command %s: no instance", cmd.ID)
	}
	if k := inst.Hypervisor; k != "" && k != string(x.drv.Name()) {
		return nil, api.Errorf(api.CodeWrongInput, "instance %s wants hypervisor %s, node runs %s", inst.Name, k, x.drv.Name())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCommandTimeout)
		defer cancel()
	}
	unlock := x.lock(inst.Name)
	defer unlock()
	log := x.log.With("cmd", cmd.ID, "kind", cmd.Kind, "instance", inst.Name, "uuid", inst.UUID)
	start := time.Now()
	var out any
	var err error
	switch cmd.Kind {
	case keys.CmdInstanceCreate, keys.CmdInstanceRemove:
		// They look at what the name holds themselves.
	default:
		if err := x.checkOwner(ctx, inst); err != nil {
			log.Warn("command_refused_orphan", "err", err)
			return nil, err
		}
	}
	x.serviceIPs.note(cmd)
	switch cmd.Kind {
	case keys.CmdInstanceCreate:
		out, err = x.create(ctx, cmd, progress, log)
	case keys.CmdInstanceStart:
		err = x.start(ctx, inst, log)
	case keys.CmdInstanceShutdown:
		var p keys.ShutdownParams
		if err = decode(cmd.Params, &p); err == nil {
			err = x.shutdown(ctx, inst.Name, seconds(p.TimeoutSeconds, DefaultShutdownTimeout), progress)
		}
	case keys.CmdInstanceReboot:
		var p keys.RebootParams
		if err = decode(cmd.Params, &p); err == nil {
			err = x.reboot(ctx, inst.Name, p.Hard)
		}
	case keys.CmdInstanceRemove:
		var p keys.RemoveParams
		if err = decode(cmd.Params, &p); err == nil {
			err = x.remove(ctx, inst, seconds(p.ShutdownTimeoutSeconds, 0), progress)
		}
	case keys.CmdInstanceReinstall:
		out, err = x.reinstall(ctx, cmd, progress, log)
	case keys.CmdInstanceGrowDisk:
		var p keys.GrowDiskParams
		if err = decode(cmd.Params, &p); err == nil {
			err = x.growDisk(ctx, inst, p)
		}
	case keys.CmdInstanceModify:
		err = x.modify(ctx, inst)
	case keys.CmdInstanceRename:
		var p keys.RenameParams
		if err = decode(cmd.Params, &p); err == nil {
			err = x.rename(ctx, inst, p.NewName)
		}
	case keys.CmdInstanceConsole:
		var p keys.ConsoleParams
		if err = decode(cmd.Params, &p); err == nil {
			out, err = x.console(ctx, inst.Name, p.MaxBytes)
		}
	default:
		if isMigrateCommand(cmd.Kind) {
			out, err = x.runMigrate(ctx, cmd, progress, log)
			break
		}
		out, err = x.runDisk(ctx, cmd, progress, log)
	}
	if err != nil {
		log.Warn("command_failed", "err", err, "seconds", time.Since(start).Seconds())
		return nil, err
	}
	log.Info("command_done", "seconds", time.Since(start).Seconds())
	if out == nil {
		return nil, nil
	}
	b, err := json.Marshal(out)
	return b, err
}

func decode(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return api.Errorf(api.CodeWrongInput, "command params: %v", err)
	}
	return nil
}

func seconds(s int, def time.Duration) time.Duration {
	if s > 0 {
		return time.Duration(s) * time.Second
	}
	return def
}

// isContainer reports whether the node's hypervisor runs containers on a
// root directory rather than VMs on disks.
func (x *Executor) isContainer() bool {
	k := x.drv.Name()
	return k == hv.KindLXC || k == hv.KindOpenVZ
}

// spec is the domain of inst on this node, from what storage holds.
func (x *Executor) spec(inst keys.InstanceRecord) hv.DomainSpec {
	name := inst.Name
	s := hv.DomainSpec{Name: name, UUID: inst.UUID, Kind: x.drv.Name(), VCPUs: max(inst.VCPUs, 1), MemoryMiB: max(inst.MemoryMiB, 1)}
	for _, n := range inst.NICs {
		s.NICs = append(s.NICs, hv.NIC{MAC: n.MAC, Bridge: n.Link})
	}
	if x.isContainer() {
		s.RootDir = x.store.RootDir(name)
		return s
	}
	if inst.DiskTemplate != "diskless" {
		for i := range inst.Disks {
			d, ok := x.blockDisk(inst, i)
			if !ok {
				d = hv.Disk{Path: x.store.DiskPath(name, i)}
			}
			s.Disks = append(s.Disks, d)
		}
	}
	switch s.Kind {
	case hv.KindKVM, hv.KindXen:
		s.ConsoleLog = x.store.ConsoleLog(name)
	}
	boot := x.store.BootDir(name)
	if k := filepath.Join(boot, "vmlinuz"); fileExists(k) && len(s.Disks) > 0 {
		s.Kernel, s.Cmdline = k, templates.DefaultCmdline
		if s.Kind == hv.KindXen {
			// PV guests see their disk as xvda and their console as hvc0.
			s.Cmdline = "root=/dev/xvda ro console=hvc0 net.ifnames=0"
		}
		if i := filepath.Join(boot, "initrd.img"); fileExists(i) {
			s.Initrd = i
		}
		if c := x.osKernelCmdline(name); c != "" {
			s.Cmdline = c
		}
	}
	return s
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// defined reports whether the domain exists, and its state.
func (x *Executor) defined(ctx context.Context, name string) (bool, hv.DomainState, error) {
	st, err := x.drv.State(ctx, name)
	if errors.Is(err, hv.ErrNotFound) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	return true, st, nil
}

// create makes disks, installs the template and defines the domain. If the
// domain of this instance (same UUID) is already defined, the instance was
// created by an earlier run of this command: nothing is done. Leftovers of an
// interrupted run (files of this UUID without a domain) are discarded first.
// A domain or files of that name that belong to another UUID are an orphan:
// the create is refused (already_exists), never adopts them.
func (x *Executor) create(ctx context.Context, cmd keys.NodeCommand, progress func(string), log *slog.Logger) (*keys.CreateOutput, error) {
	inst := cmd.Instance
	if inst.UUID == "" {
		return nil, api.Errorf(api.CodeWrongInput, "create %s: the command names no instance uuid", inst.Name)
	}
	p, err := x.look(ctx, inst.Name)
	if err != nil {
		return nil, err
	}
	switch {
	case p.Domain && p.DomainUUID == inst.UUID:
		log.Info("create_already_done")
		return x.output(inst), nil
	case p.Domain:
		return nil, errOrphan(inst.Name, "domain", p.DomainUUID)
	case p.Files && p.FilesUUID != inst.UUID:
		return nil, errOrphan(inst.Name, "instance files", p.FilesUUID)
	case p.Files:
		log.Info("create_leftovers_discarded")
		if err := x.store.Remove(inst.Name); err != nil {
			return nil, err
		}
	}
	r := revert.New(log)
	defer r.Fail()
	if _, err := x.store.Prepare(inst.Name); err != nil {
		return nil, err
	}
	r.Add(func(context.Context) error { return x.store.Remove(inst.Name) })
	if err := x.writeOwner(inst.Name, inst, cmd.ID); err != nil {
		return nil, err
	}
	out, err := x.install(ctx, cmd, inst.Name, progress, log)
	if err != nil {
		return nil, err
	}
	progress("define domain")
	if err := x.drv.Define(ctx, x.spec(inst)); err != nil {
		return nil, err
	}
	r.Add(func(ctx context.Context) error { return x.drv.Undefine(ctx, inst.Name) })
	r.Success()
	return out, nil
}

// install creates the disks (or container root) of inst in the storage
// directory of dir, filled from the command's template when it names one.
func (x *Executor) install(ctx context.Context, cmd keys.NodeCommand, dir string, progress func(string), log *slog.Logger) (*keys.CreateOutput, error) {
	inst := cmd.Instance
	if cmd.NoInstall {
		// Disks only (or those that exist: block devices): never a
		// template or an OS definition's create over them.
		inst.OSDigest, cmd.TemplateDigest = "", ""
	} else if osDefinition(inst) {
		return x.installOS(ctx, inst, dir, cmd.Kind == keys.CmdInstanceReinstall, progress, log)
	}
	digest := cmd.TemplateDigest
	if digest == "" {
		digest = inst.OSDigest
	}
	var blob string
	if digest != "" {
		progress("fetch template " + short(digest))
		p, err := x.fetch(ctx, digest, cmd.TemplateURLs, progress)
		if err != nil {
			return nil, err
		}
		blob = p
	}
	man := templates.Manifest{Name: inst.OS, Version: inst.OSVersion}
	// An instance named by an FQDN gets its first label as hostname.
	host, domain := splitFQDN(inst.Name)
	opts := templates.InstallOptions{
		Artifact: blob, Manifest: man, Hostname: host, Domain: domain, SSHKeys: inst.SSHKeys,
		StagingDir: x.stagingDir(), Logger: log,
	}
	onProgress := func(p templates.Progress) { progress(p.String()) }
	out := &keys.CreateOutput{}
	start := time.Now()
	if x.isContainer() {
		root := x.store.RootDir(dir)
		out.RootDir = root
		if blob == "" {
			return nil, api.Errorf(api.CodeWrongInput, "instance %s: a container needs an OS template", inst.Name)
		}
		res, err := templates.InstallDir(ctx, root, opts, onProgress)
		if err != nil {
			return nil, err
		}
		out.MachineID, out.InstallSeconds = res.MachineID, time.Since(start).Seconds()
		return out, nil
	}
	if inst.DiskTemplate == "diskless" {
		return out, nil
	}
	if inst.DiskTemplate == "plain" || inst.DiskTemplate == "drbd" {
		return x.installBlock(ctx, inst, blob != "", progress)
	}
	if inst.DiskTemplate != "file" && inst.DiskTemplate != "" {
		return nil, api.Errorf(api.CodeWrongInput, "disk template %q is not supported by this agent (file, diskless)", inst.DiskTemplate)
	}
	if len(inst.Disks) == 0 && blob != "" {
		return nil, api.Errorf(api.CodeWrongInput, "instance %s: an OS template needs a disk", inst.Name)
	}
	for i, d := range inst.Disks {
		p := x.store.DiskPath(dir, i)
		out.Disks = append(out.Disks, p)
		if i == 0 && blob != "" {
			if _, free, err := x.store.Usage(); err == nil && free < d.SizeMiB {
				return nil, fmt.Errorf("disk 0 of %s: %d MiB wanted, %d MiB free: %w", inst.Name, d.SizeMiB, free, storage.ErrNoSpace)
			}
			o := opts
			o.DiskPath, o.DiskSizeMiB, o.KernelOut = p, d.SizeMiB, x.store.BootDir(dir)
			// The first install of a template prepares an ext4 image of it
			// once; later installs copy and grow that image (no unpack, no
			// mkfs). See docs/templates.md, "Faster installs: the image cache".
			if h, err := templates.ParseDigest(digest); err == nil {
				o.Manifest.SHA256, o.ImageCache = h, x.store.ImageCacheDir()
			}
			res, err := templates.Install(ctx, o, onProgress)
			if err != nil {
				return nil, err
			}
			out.Kernel, out.Initrd, out.MachineID = res.Kernel, res.Initrd, res.MachineID
			continue
		}
		progress(fmt.Sprintf("create disk %d (%d MiB)", i, d.SizeMiB))
		if _, err := x.store.CreateDisk(dir, i, d.SizeMiB); err != nil {
			return nil, err
		}
	}
	out.InstallSeconds = time.Since(start).Seconds()
	return out, nil
}

// autoStagingMinFree is how much room a tmpfs must have to be used for
// unpacking templates by default (a Debian template unpacks to 0.3-1 GiB).
const autoStagingMinFree = 4 << 30

// stagingDir is where templates are unpacked before mkfs: the configured
// directory; by default /dev/shm when it is a tmpfs with room to spare
// (unpacking many small files onto a tmpfs is several times faster than onto
// a disk), else next to the disk.
func (x *Executor) stagingDir() string {
	switch x.staging {
	case "disk":
		return ""
	case "":
	default:
		return x.staging
	}
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if err := syscall.Statfs("/dev/shm", &st); err == nil && st.Type == tmpfsMagic && int64(st.Bavail)*int64(st.Bsize) >= autoStagingMinFree {
		return "/dev/shm"
	}
	return ""
}

func (x *Executor) output(inst keys.InstanceRecord) *keys.CreateOutput {
	s := x.spec(inst)
	out := &keys.CreateOutput{RootDir: s.RootDir, Kernel: s.Kernel, Initrd: s.Initrd}
	for _, d := range s.Disks {
		out.Disks = append(out.Disks, d.Path)
	}
	return out
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}

func (x *Executor) start(ctx context.Context, inst keys.InstanceRecord, log *slog.Logger) error {
	name := inst.Name
	p, err := x.look(ctx, name)
	st := p.State
	switch {
	case err != nil:
		return err
	case !p.Domain:
		// The definition is gone (a hypervisor without persistent state
		// restarted, or someone undefined it) but the instance's files are
		// here: define it again from the record the master sent, as
		// Ganeti's KVM builds the VM from its config on every start. The
		// master sends start only to the instance's primary node.
		if p.Files && !p.ownsFiles(inst.UUID) {
			return errOrphan(name, "instance files", p.FilesUUID)
		}
		if inst.DiskTemplate != "diskless" && !p.Files {
			return api.Errorf(api.CodeUnknownEntity, "instance %s has no domain and no files on this node", name)
		}
		log.Warn("domain_redefined", "reason", "no domain on start")
		if err := x.drv.Define(ctx, x.spec(inst)); err != nil && !errors.Is(err, hv.ErrAlreadyExists) {
			return err
		}
	case st.Active():
		return nil
	}
	err = x.drv.Start(ctx, name)
	if errors.Is(err, hv.ErrWrongState) {
		if st, serr := x.drv.State(ctx, name); serr == nil && st.Active() {
			return nil
		}
	}
	return err
}

// shutdown asks the guest to stop and destroys it after timeout. A stopped
// or undefined domain is already shut down.
func (x *Executor) shutdown(ctx context.Context, name string, timeout time.Duration, progress func(string)) error {
	ok, st, err := x.defined(ctx, name)
	if err != nil || !ok || !st.Active() {
		return err
	}
	if timeout > 0 {
		progress(fmt.Sprintf("shutdown (timeout %s)", timeout))
		err = x.drv.Shutdown(ctx, name, timeout)
		switch {
		case err == nil, errors.Is(err, hv.ErrWrongState):
			return nil
		case errors.Is(err, hv.ErrTimeout), errors.Is(err, hv.ErrUnsupported):
			progress("guest did not stop in time: destroy")
			x.log.Info("shutdown_timeout_destroy", "instance", name, "err", err)
		default:
			return err
		}
	}
	err = x.drv.Destroy(ctx, name)
	if errors.Is(err, hv.ErrWrongState) {
		return nil
	}
	return err
}

func (x *Executor) reboot(ctx context.Context, name string, hard bool) error {
	ok, st, err := x.defined(ctx, name)
	switch {
	case err != nil:
		return err
	case !ok:
		return api.Errorf(api.CodeUnknownEntity, "instance %s has no domain on this node", name)
	case !st.Active():
		// Ganeti's reboot of a stopped instance starts it.
		return x.drv.Start(ctx, name)
	}
	if !hard {
		err = x.drv.Reboot(ctx, name)
		if !errors.Is(err, hv.ErrUnsupported) {
			return err
		}
	}
	if err := x.drv.Destroy(ctx, name); err != nil && !errors.Is(err, hv.ErrWrongState) {
		return err
	}
	return x.drv.Start(ctx, name)
}

// remove destroys, undefines and deletes the disks of inst. Removing what
// is not there succeeds; a domain or files of that name that carry another
// UUID are not inst's and are left alone.
func (x *Executor) remove(ctx context.Context, inst keys.InstanceRecord, timeout time.Duration, progress func(string)) error {
	name := inst.Name
	p, err := x.look(ctx, name)
	if err != nil {
		return err
	}
	files := p.ownsFiles(inst.UUID)
	switch {
	case p.ownsDomain(inst.UUID):
		if err := x.shutdown(ctx, name, timeout, progress); err != nil {
			return err
		}
		progress("undefine")
		if err := x.drv.Undefine(ctx, name); err != nil && !errors.Is(err, hv.ErrNotFound) {
			return err
		}
	case p.Domain:
		progress("domain " + name + " belongs to uuid " + p.DomainUUID + ": left alone")
		x.log.Warn("remove_left_foreign_domain", "instance", name, "uuid", inst.UUID, "domain_uuid", p.DomainUUID)
	}
	if !files {
		if p.Files {
			x.log.Warn("remove_left_foreign_files", "instance", name, "uuid", inst.UUID, "files_uuid", p.FilesUUID)
		}
		return nil
	}
	progress("delete disks")
	return x.store.Remove(name)
}

// stopped fails unless the domain is defined and not running.
func (x *Executor) stopped(ctx context.Context, name, op string) error {
	ok, st, err := x.defined(ctx, name)
	switch {
	case err != nil:
		return err
	case !ok:
		return api.Errorf(api.CodeUnknownEntity, "instance %s has no domain on this node", name)
	case st.Active():
		return api.Errorf(api.CodeWrongState, "instance %s is running: shut it down before %s", name, op)
	}
	return nil
}

// reinstall replaces the OS of a stopped instance: the disks (or root
// directory) are made afresh from the template in a scratch directory and
// swapped in only when the install succeeded.
func (x *Executor) reinstall(ctx context.Context, cmd keys.NodeCommand, progress func(string), log *slog.Logger) (*keys.CreateOutput, error) {
	inst := cmd.Instance
	if err := x.stopped(ctx, inst.Name, "reinstall"); err != nil {
		return nil, err
	}
	tmpName := inst.Name[:min(len(inst.Name), 50)] + ".reinstall"
	old := inst.Name[:min(len(inst.Name), 50)] + ".old"
	_ = x.store.Remove(tmpName)
	if _, err := x.store.Prepare(tmpName); err != nil {
		return nil, err
	}
	defer x.store.Remove(tmpName)
	out, err := x.install(ctx, cmd, tmpName, progress, log)
	if err != nil {
		return nil, err
	}
	_ = x.store.Remove(old)
	if err := x.store.Rename(inst.Name, old); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if err := x.store.Rename(tmpName, inst.Name); err != nil {
		_ = x.store.Rename(old, inst.Name)
		return nil, err
	}
	_ = x.store.Remove(old)
	if err := x.writeOwner(inst.Name, inst, cmd.ID); err != nil {
		return nil, err
	}
	progress("redefine domain")
	if err := x.redefine(ctx, inst); err != nil {
		return nil, err
	}
	res := x.output(inst)
	res.InstallSeconds, res.MachineID = out.InstallSeconds, out.MachineID
	return res, nil
}

// redefine replaces a stopped domain's definition with the current spec.
func (x *Executor) redefine(ctx context.Context, inst keys.InstanceRecord) error {
	if err := x.drv.Undefine(ctx, inst.Name); err != nil && !errors.Is(err, hv.ErrNotFound) {
		return err
	}
	return x.drv.Define(ctx, x.spec(inst))
}

// growDisk enlarges one file disk (and its ext4 filesystem when the domain
// is stopped).
func (x *Executor) growDisk(ctx context.Context, inst keys.InstanceRecord, p keys.GrowDiskParams) error {
	if x.isContainer() || inst.DiskTemplate == "diskless" {
		return api.Errorf(api.CodeWrongInput, "instance %s has no file disks to grow", inst.Name)
	}
	if p.Disk < 0 || p.Disk >= len(inst.Disks) {
		return api.Errorf(api.CodeWrongInput, "instance %s has no disk %d", inst.Name, p.Disk)
	}
	target := p.SizeMiB
	if target == 0 {
		target = inst.Disks[p.Disk].SizeMiB + p.AmountMiB
	}
	ok, st, err := x.defined(ctx, inst.Name)
	if err != nil {
		return err
	}
	if !ok {
		return api.Errorf(api.CodeUnknownEntity, "instance %s has no domain on this node", inst.Name)
	}
	// A running guest sees the new size after a reboot (no live block
	// resize yet); its filesystem is grown only while it is stopped.
	return x.store.GrowDisk(ctx, inst.Name, p.Disk, target, !st.Active())
}

// modify redefines a stopped domain with the record's vcpus and memory.
func (x *Executor) modify(ctx context.Context, inst keys.InstanceRecord) error {
	if err := x.stopped(ctx, inst.Name, "modify"); err != nil {
		return err
	}
	return x.redefine(ctx, inst)
}

// rename moves a stopped instance to a new name: files and domain. The
// guest's own hostname changes with a reinstall (or by its operator).
func (x *Executor) rename(ctx context.Context, inst keys.InstanceRecord, to string) error {
	if to == "" {
		return api.Errorf(api.CodeWrongInput, "rename %s: new_name missing", inst.Name)
	}
	newInst := inst
	newInst.Name = to
	// Done already (re-run)?
	if p, err := x.look(ctx, to); err != nil {
		return err
	} else if p.Domain {
		if old, _, _ := x.defined(ctx, inst.Name); !old && p.ownsDomain(inst.UUID) {
			return nil
		}
		return api.Errorf(api.CodeAlreadyExists, "a domain %s exists on this node", to)
	} else if p.Files {
		return errOrphan(to, "instance files", p.FilesUUID)
	}
	if err := x.stopped(ctx, inst.Name, "rename"); err != nil {
		return err
	}
	unlock := x.lock(to)
	defer unlock()
	if x.store.Exists(inst.Name) {
		if err := x.store.Rename(inst.Name, to); err != nil {
			return err
		}
	}
	if err := x.drv.Undefine(ctx, inst.Name); err != nil && !errors.Is(err, hv.ErrNotFound) {
		_ = x.store.Rename(to, inst.Name)
		return err
	}
	if err := x.drv.Define(ctx, x.spec(newInst)); err != nil {
		_ = x.store.Rename(to, inst.Name)
		if derr := x.drv.Define(ctx, x.spec(inst)); derr != nil {
			x.log.Error("rename_revert_failed", "instance", inst.Name, "err", derr)
		}
		return err
	}
	if osDefinition(inst) {
		x.osRename(ctx, newInst, inst.Name)
	}
	return nil
}

// console returns the end of the domain's serial console log (at most
// maxBytes, default 16 KiB). Live consoles (pty) are read for a moment.
func (x *Executor) console(ctx context.Context, name string, maxBytes int) (*keys.ConsoleOutput, error) {
	if maxBytes <= 0 {
		maxBytes = 16 << 10
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	rc, err := x.drv.Console(cctx, name)
	if err != nil {
		return nil, err
	}
	type chunk struct {
		b   []byte
		err error
	}
	ch := make(chan chunk, 16)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := rc.Read(buf)
			ch <- chunk{buf[:n], err}
			if err != nil {
				return
			}
		}
	}()
	var text []byte
	func() {
		defer rc.Close()
		for {
			select {
			case c, ok := <-ch:
				if !ok {
					return
				}
				text = append(text, c.b...)
				if len(text) > 4*maxBytes {
					text = text[len(text)-maxBytes:]
				}
				if c.err != nil {
					return
				}
			case <-cctx.Done():
				return
			}
		}
	}()
	if len(text) > maxBytes {
		text = text[len(text)-maxBytes:]
	}
	return &keys.ConsoleOutput{Text: string(text)}, nil
}
