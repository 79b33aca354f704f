package templates

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/drover-project/drover/revert"
)

// DefaultCmdline is the kernel command line for direct kernel boot of a disk
// made by Install: root on the first virtio disk, serial console, classic NIC
// names (eth0).
const DefaultCmdline = "root=/dev/vda ro console=ttyS0 net.ifnames=0"

// InstallOptions says what to install and how to make it this instance.
type InstallOptions struct {
	// Artifact is the path of the template tarball; Manifest its manifest
	// (SHA256 is checked while unpacking; when empty and the artifact's file
	// name is a sha256, as in a Cache or Store, that name is used; else no
	// check). UnpackedSize, when known, sizes checks and the staging choice.
	Artifact string
	Manifest Manifest
	// DiskPath is the raw disk file to make (Install only). An existing file
	// is an error unless Overwrite; it is replaced only when the install
	// succeeded.
	DiskPath    string
	DiskSizeMiB int64
	Overwrite   bool
	// Hostname (one label) and optional Domain of the instance.
	Hostname string
	Domain   string
	// SSHKeys for root (authorized_keys lines).
	SSHKeys []string
	// Network of the first NIC.
	Network NetworkConfig
	// MachineID (32 lowercase hex digits); empty makes a fresh random one.
	MachineID string
	// KernelOut, if set, receives the template's kernel and initrd as
	// KernelOut/vmlinuz and KernelOut/initrd.img for direct kernel boot.
	KernelOut string
	// StagingDir is where the root filesystem is unpacked before mkfs;
	// default: UnpackedCache if set, else /dev/shm when it is a tmpfs with
	// three times the template's unpacked size free, else the directory of
	// DiskPath. Not used with ImageCache.
	StagingDir string
	// UnpackedCache, if set, keeps each template unpacked once per digest
	// (UnpackedCache/<sha256>, checked before it is renamed into place); an
	// install then hard-links a copy of it (cp -al) instead of unpacking.
	// Customisation replaces files, never writes into a shared inode. The
	// staging dir must be on the same filesystem (default: UnpackedCache).
	UnpackedCache string
	// ImageCache, if set, keeps per template digest a pristine ext4 image,
	// the unpacked tree it was made from, and the kernel (ImageCache/<sha256>,
	// made once by the first install). An install then copies the image
	// (reflink or sparse copy), grows it with resize2fs and writes the
	// instance's files into it with debugfs: no unpack, no mkfs.
	ImageCache string

	cloudInitSeed bool // set by customize on the staged path
	// Logger; nil discards.
	Logger *slog.Logger
}

// InstallResult tells the hypervisor driver how to boot what was installed.
type InstallResult struct {
	// Kernel and Initrd paths (in KernelOut), empty when not extracted: the
	// template has no kernel (boot the node's kernel) or KernelOut was empty.
	Kernel string `json:"kernel,omitempty"`
	Initrd string `json:"initrd,omitempty"`
	// Cmdline for direct kernel boot (DefaultCmdline for disks).
	Cmdline string `json:"cmdline,omitempty"`
	// CloudInitSeed is true when a NoCloud seed was written.
	CloudInitSeed bool `json:"cloud_init_seed"`
	// MachineID written to /etc/machine-id.
	MachineID string `json:"machine_id"`
	// Duration of the whole install.
	Duration time.Duration `json:"duration"`
}

func (o *InstallOptions) validate(disk bool) error {
	if o.Artifact == "" {
		return fmt.Errorf("install: artifact required: %w", ErrInvalid)
	}
	if o.Manifest.SHA256 == "" {
		// A blob from a Cache or Store is named by its digest.
		if h, err := ParseDigest(filepath.Base(o.Artifact)); err == nil {
			o.Manifest.SHA256 = h
		}
	}
	if !validHostname(o.Hostname) {
		return fmt.Errorf("install: hostname %q: %w", o.Hostname, ErrInvalid)
	}
	if o.Domain != "" && !validDomain(o.Domain) {
		return fmt.Errorf("install: domain %q: %w", o.Domain, ErrInvalid)
	}
	for _, k := range o.SSHKeys {
		if !sshKeyRE.MatchString(strings.TrimSpace(k)) || strings.ContainsAny(k, "\n\r") {
			return fmt.Errorf("install: ssh key %.30q...: %w", k, ErrInvalid)
		}
	}
	if err := o.Network.validate(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if o.MachineID == "" {
		id, err := newMachineID()
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		o.MachineID = id
	} else if !hex32RE.MatchString(o.MachineID) {
		return fmt.Errorf("install: machine-id %q: %w", o.MachineID, ErrInvalid)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if !disk {
		return nil
	}
	if o.DiskPath == "" || o.DiskSizeMiB <= 0 {
		return fmt.Errorf("install: disk path and size required: %w", ErrInvalid)
	}
	if need := MinDiskMiB(o.Manifest); need > 0 && o.DiskSizeMiB < need {
		return fmt.Errorf("install: disk of %d MiB too small for template %s (needs about %d MiB): %w",
			o.DiskSizeMiB, o.Manifest.Name, need, ErrInvalid)
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return fmt.Errorf("install: mkfs.ext4 (Debian package e2fsprogs): %w", ErrToolMissing)
	}
	return nil
}

// MinDiskMiB is the smallest disk (MiB) that the template m describes can be
// installed on: its files plus room for ext4's metadata, journal and
// reserve. 0 when the manifest does not know its unpacked size.
func MinDiskMiB(m Manifest) int64 {
	if m.UnpackedSize <= 0 {
		return 0
	}
	need := m.UnpackedSize*115/100 + 32<<20
	return (need + 1<<20 - 1) >> 20
}

// Install makes a bootable raw disk file from a template: a sparse file of
// DiskSizeMiB, the tarball unpacked into a staging directory, the instance's
// identity written into it (see customize), then `mkfs.ext4 -d STAGING` fills
// the new filesystem without mounting. The kernel and initrd are copied to
// KernelOut. Every step is undone when a later one fails; the staging
// directory is always removed. Needs root (ownership, device nodes).
// Progress steps: unpack, customize, mkfs, kernel.
func Install(ctx context.Context, o InstallOptions, progress func(Progress)) (res *InstallResult, err error) {
	start := time.Now()
	if err := o.validate(true); err != nil {
		return nil, err
	}
	log := o.Logger.With("disk", o.DiskPath, "template", o.Manifest.Ref(), "hostname", o.Hostname)
	if _, err := os.Lstat(o.DiskPath); err == nil && !o.Overwrite {
		return nil, fmt.Errorf("install: disk %s: %w", o.DiskPath, ErrExists)
	}
	r := revert.New(log)
	defer r.Fail()
	tmpDisk := o.DiskPath + ".drover-new"
	r.Add(func(context.Context) error { return removeFile(tmpDisk) })
	var (
		kernelRoot, kernel, initrd string // where to copy the kernel from
		seed                       bool
	)
	useImage := o.ImageCache != ""
	var (
		g         *golden
		imageSize int64
	)
	if useImage {
		if g, err = ensureGolden(ctx, o, progress, log); err == nil {
			var st os.FileInfo
			if st, err = os.Stat(g.image); err != nil {
				err = fmt.Errorf("image cache: %w", err)
			} else if imageSize = st.Size(); o.DiskSizeMiB<<20 < imageSize {
				// The prepared image can only grow: a disk smaller than it
				// is made the slow way (unpack, mkfs -d of the disk's size).
				log.Info("install_unpack", "reason", "disk smaller than the prepared image", "disk_mib", o.DiskSizeMiB, "image_mib", imageSize>>20)
				useImage = false
			}
		}
	}
	switch {
	case err != nil: // preparing or finding the image failed
	case useImage:
		seed, err = installFromImage(ctx, g, imageSize, &o, tmpDisk, progress, log)
		kernelRoot, kernel, initrd = g.dir, g.kernel, g.initrd
	default:
		var cleanup func()
		kernelRoot, cleanup, err = installStaged(ctx, &o, tmpDisk, progress, log)
		if cleanup != nil {
			// The staging tree is scratch in every case, removed after the
			// kernel was copied out of it.
			defer cleanup()
		}
		if err == nil {
			kernel, initrd = findKernel(kernelRoot)
			seed = o.cloudInitSeed
		}
	}
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", o.Hostname, err)
	}
	res = &InstallResult{Cmdline: DefaultCmdline, CloudInitSeed: seed, MachineID: o.MachineID}

	// Kernel and initrd to temp names; everything is renamed at the end.
	var renames [][2]string
	if o.KernelOut != "" && kernel != "" {
		report(progress, Progress{Step: "kernel", Percent: -1, Message: kernel})
		if err := os.MkdirAll(o.KernelOut, 0o755); err != nil {
			return nil, fmt.Errorf("install %s: kernel dir: %w", o.Hostname, err)
		}
		for _, f := range [][2]string{{kernel, "vmlinuz"}, {initrd, "initrd.img"}} {
			if f[0] == "" {
				continue
			}
			dst := filepath.Join(o.KernelOut, f[1])
			tmp := dst + ".drover-new"
			r.Add(func(context.Context) error { return removeFile(tmp) })
			if err := copyFileOut(kernelRoot, f[0], tmp); err != nil {
				return nil, fmt.Errorf("install %s: kernel: %w", o.Hostname, err)
			}
			renames = append(renames, [2]string{tmp, dst})
		}
		res.Kernel = filepath.Join(o.KernelOut, "vmlinuz")
		if initrd != "" {
			res.Initrd = filepath.Join(o.KernelOut, "initrd.img")
		}
	} else if o.KernelOut != "" {
		log.Info("install_no_kernel_in_template")
	}
	renames = append(renames, [2]string{tmpDisk, o.DiskPath})
	for _, rn := range renames {
		if err := os.Rename(rn[0], rn[1]); err != nil {
			return nil, fmt.Errorf("install %s: %w", o.Hostname, err)
		}
		r.Add(func(context.Context) error { return removeFile(rn[1]) })
	}
	r.Success()
	res.Duration = time.Since(start)
	log.Info("install_done", "seconds", res.Duration.Seconds(), "kernel", res.Kernel != "", "cloud_init_seed", seed)
	return res, nil
}

// installStaged unpacks the template into a staging directory, customises it
// and fills tmpDisk with `mkfs.ext4 -d`. It returns the staging directory
// (for the kernel) and its cleanup, to be called in every case.
func installStaged(ctx context.Context, o *InstallOptions, tmpDisk string, progress func(Progress), log *slog.Logger) (string, func(), error) {
	stageParent := o.StagingDir
	switch {
	case stageParent != "":
	case o.UnpackedCache != "":
		stageParent = o.UnpackedCache
	case tmpfsHasRoom("/dev/shm", o.Manifest.UnpackedSize):
		// Unpacking into memory spares the disk the write and the removal
		// of the whole tree (measured 4-5x faster under I/O load).
		stageParent = "/dev/shm"
	default:
		stageParent = filepath.Dir(o.DiskPath)
	}
	stage, err := os.MkdirTemp(stageParent, ".drover-stage-")
	if err != nil {
		return "", nil, fmt.Errorf("staging: %w", err)
	}
	cleanup := func() {
		t := time.Now()
		if err := os.RemoveAll(stage); err != nil {
			log.Warn("install_staging_cleanup_failed", "dir", stage, "err", err)
		}
		log.Debug("install_staging_removed", "seconds", time.Since(t).Seconds())
	}
	t := time.Now()
	if o.UnpackedCache != "" {
		err = linkFromUnpackedCache(ctx, *o, stage, progress, log)
	} else {
		err = unpackBlob(ctx, o.Artifact, o.Manifest.SHA256, o.Manifest, stage, progress)
	}
	if err != nil {
		return "", cleanup, err
	}
	log.Debug("install_unpacked", "seconds", time.Since(t).Seconds())
	report(progress, Progress{Step: "customize", Percent: -1})
	if o.cloudInitSeed, err = customize(ctx, dirTree(stage), o, guestVM, log); err != nil {
		return "", cleanup, fmt.Errorf("customize: %w", err)
	}
	if err := makeSparse(tmpDisk, o.DiskSizeMiB<<20); err != nil {
		return "", cleanup, err
	}
	t = time.Now()
	report(progress, Progress{Step: "mkfs", Percent: -1, Message: "mkfs.ext4 -d"})
	if err := mkfsExt4(ctx, stage, tmpDisk); err != nil {
		return "", cleanup, err
	}
	log.Debug("install_mkfs_done", "seconds", time.Since(t).Seconds())
	return stage, cleanup, nil
}

// InstallDir unpacks a template into dir (which must not exist, or be empty)
// and customises it as the root filesystem of an LXC container: no fstab
// root, no serial getty; the container runtime provides the console. On
// failure dir is removed. Progress steps: unpack, customize.
func InstallDir(ctx context.Context, dir string, o InstallOptions, progress func(Progress)) (*InstallResult, error) {
	start := time.Now()
	if err := o.validate(false); err != nil {
		return nil, err
	}
	log := o.Logger.With("dir", dir, "template", o.Manifest.Ref(), "hostname", o.Hostname)
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("install: directory %s not empty: %w", dir, ErrExists)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("install: %w", err)
	}
	r := revert.New(log)
	defer r.Fail()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	r.Add(func(context.Context) error { return os.RemoveAll(dir) })
	if err := unpackBlob(ctx, o.Artifact, o.Manifest.SHA256, o.Manifest, dir, progress); err != nil {
		return nil, fmt.Errorf("install %s: %w", o.Hostname, err)
	}
	report(progress, Progress{Step: "customize", Percent: -1})
	seed, err := customize(ctx, dirTree(dir), &o, guestContainer, log)
	if err != nil {
		return nil, fmt.Errorf("install %s: customize: %w", o.Hostname, err)
	}
	r.Success()
	res := &InstallResult{CloudInitSeed: seed, MachineID: o.MachineID, Duration: time.Since(start)}
	log.Info("install_dir_done", "seconds", res.Duration.Seconds())
	return res, nil
}

// findKernel returns the newest boot/vmlinuz-* and its initrd in root.
func findKernel(root string) (kernel, initrd string) {
	var f rootfsFacts
	ents, _ := os.ReadDir(filepath.Join(root, "boot"))
	for _, e := range ents {
		f.add("boot/" + e.Name())
	}
	var m Manifest
	f.apply(&m)
	return m.Kernel, m.Initrd
}

// makeSparse creates a sparse file of size bytes.
func makeSparse(p string, size int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create disk: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("create disk: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create disk: %w", err)
	}
	return nil
}

// mkfsExt4 makes an ext4 filesystem on disk filled from dir, without mounting.
func mkfsExt4(ctx context.Context, dir, disk string) error {
	cmd := command(ctx, "mkfs.ext4", "-q", "-F", "-L", "root", "-d", dir,
		"-E", "lazy_itable_init=1,lazy_journal_init=1", disk)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("mkfs.ext4: %w", ctx.Err())
		}
		return fmt.Errorf("mkfs.ext4 -d: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// linkFromUnpackedCache fills stage with a hard-linked copy of the template's
// unpacked tree, unpacking it into the cache first if needed.
func linkFromUnpackedCache(ctx context.Context, o InstallOptions, stage string, progress func(Progress), log *slog.Logger) error {
	h, err := ParseDigest(o.Manifest.SHA256)
	if err != nil {
		return fmt.Errorf("unpacked cache needs the manifest's sha256: %w", err)
	}
	tree := filepath.Join(o.UnpackedCache, h)
	if _, err := os.Stat(tree); err != nil {
		tmp, err := os.MkdirTemp(o.UnpackedCache, ".unpack-"+h[:12]+"-")
		if err != nil {
			return fmt.Errorf("unpacked cache: %w", err)
		}
		if err := unpackBlob(ctx, o.Artifact, h, o.Manifest, tmp, progress); err != nil {
			os.RemoveAll(tmp)
			return err
		}
		// The tree itself is 0755 root; losing a race to another install of
		// the same digest is fine: its tree is as good.
		if err := os.Rename(tmp, tree); err != nil {
			os.RemoveAll(tmp)
			if _, serr := os.Stat(tree); serr != nil {
				return fmt.Errorf("unpacked cache: %w", err)
			}
		} else {
			log.Info("template_unpacked_cached", "dir", tree)
		}
	}
	cmd := command(ctx, "cp", "-a", "-l", tree+"/.", stage+"/")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("link copy of %s: %w: %s", tree, err, strings.TrimSpace(string(out)))
	}
	report(progress, Progress{Step: "unpack", Percent: 100, Message: "linked from the unpacked cache"})
	return nil
}

// tmpfsHasRoom reports whether dir is a tmpfs with at least three times need
// bytes free (need must be known, i.e. > 0).
func tmpfsHasRoom(dir string, need int64) bool {
	var st syscall.Statfs_t
	if need <= 0 || syscall.Statfs(dir, &st) != nil || st.Type != 0x01021994 { // TMPFS_MAGIC
		return false
	}
	return int64(st.Bavail)*st.Bsize >= 3*need
}
