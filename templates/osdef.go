package templates

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// OSDefinition is a Ganeti OS definition (man ganeti-os-interface): a
// directory with ganeti_api_version, variants.list, parameters.list and the
// scripts create, import, export, rename, verify. Providers such as
// instance-debootstrap run unchanged: drover calls their scripts with the
// documented environment.
type OSDefinition struct {
	Name        string
	Dir         string
	APIVersions []int
	Variants    []string
	// Parameters: name -> description, from parameters.list.
	Parameters map[string]string
	// Scripts present and executable, by name.
	Scripts map[string]bool
}

// OSAPIVersion is the OS API drover speaks.
const OSAPIVersion = 20

// OSInstance is what an OS script is told about the instance.
type OSInstance struct {
	Name       string
	Variant    string // "" = the first of variants.list
	Hypervisor string // kvm, lxc, ...
	Disks      []OSDisk
	NICs       []OSNIC
	// Params are the OS parameters (-O name=value), passed as OSP_<NAME>.
	Params map[string]string
	// HV and BE are passed as INSTANCE_HV_<name> and INSTANCE_BE_<name>
	// (instance-debootstrap reads INSTANCE_HV_serial_console).
	HV, BE     map[string]string
	DebugLevel int
}

// OSDisk is one instance disk as the scripts see it.
type OSDisk struct {
	Path    string
	SizeMiB int64
	UUID    string
	// Backend is DISK_<n>_BACKEND_TYPE: "block" or "file:loop" (default:
	// block for a block device, else file:loop).
	Backend string
}

// OSNIC is one NIC as the scripts see it.
type OSNIC struct {
	MAC, IP, Mode, Link, UUID string
}

// LoadOSDefinition reads an OS definition directory. It requires API version
// 20 among those listed and an executable create script.
func LoadOSDefinition(dir string) (*OSDefinition, error) {
	d := &OSDefinition{Name: filepath.Base(dir), Dir: dir, Parameters: map[string]string{}, Scripts: map[string]bool{}}
	lines, err := readLines(filepath.Join(dir, "ganeti_api_version"))
	if err != nil {
		return nil, fmt.Errorf("os %s: %w", d.Name, err)
	}
	for _, l := range lines {
		v, err := strconv.Atoi(l)
		if err != nil {
			return nil, fmt.Errorf("os %s: ganeti_api_version %q: %w", d.Name, l, ErrInvalid)
		}
		d.APIVersions = append(d.APIVersions, v)
	}
	if !slices.Contains(d.APIVersions, OSAPIVersion) {
		return nil, fmt.Errorf("os %s: API versions %v lack %d: %w", d.Name, d.APIVersions, OSAPIVersion, ErrInvalid)
	}
	if d.Variants, err = readLines(filepath.Join(dir, "variants.list")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("os %s: %w", d.Name, err)
	}
	params, err := readLines(filepath.Join(dir, "parameters.list"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("os %s: %w", d.Name, err)
	}
	for _, l := range params {
		name, desc, _ := strings.Cut(l, " ")
		d.Parameters[name] = strings.TrimSpace(desc)
	}
	for _, s := range []string{"create", "import", "export", "rename", "verify"} {
		if st, err := os.Stat(filepath.Join(dir, s)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			d.Scripts[s] = true
		}
	}
	if !d.Scripts["create"] {
		return nil, fmt.Errorf("os %s: no executable create script: %w", d.Name, ErrInvalid)
	}
	return d, nil
}

// readLines returns the non-empty, non-comment lines of a file, trimmed.
func readLines(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

// env builds the documented environment for a script.
func (d *OSDefinition) env(inst OSInstance) ([]string, error) {
	variant := inst.Variant
	if variant == "" && len(d.Variants) > 0 {
		variant = d.Variants[0]
	}
	if variant != "" && len(d.Variants) > 0 && !slices.Contains(d.Variants, variant) {
		return nil, fmt.Errorf("os %s: variant %q not in %v: %w", d.Name, variant, d.Variants, ErrInvalid)
	}
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"OS_API_VERSION=" + strconv.Itoa(OSAPIVersion),
		"INSTANCE_NAME=" + inst.Name,
		"INSTANCE_OS=" + d.Name,
		"OS_NAME=" + d.Name,
		"OS_VARIANT=" + variant,
		"HYPERVISOR=" + inst.Hypervisor,
		"DEBUG_LEVEL=" + strconv.Itoa(inst.DebugLevel),
		"DISK_COUNT=" + strconv.Itoa(len(inst.Disks)),
		"NIC_COUNT=" + strconv.Itoa(len(inst.NICs)),
	}
	for i, dk := range inst.Disks {
		env = append(env,
			fmt.Sprintf("DISK_%d_PATH=%s", i, dk.Path),
			fmt.Sprintf("DISK_%d_ACCESS=rw", i),
			fmt.Sprintf("DISK_%d_SIZE=%d", i, dk.SizeMiB),
			fmt.Sprintf("DISK_%d_BACKEND_TYPE=%s", i, diskBackend(dk)))
		if dk.UUID != "" {
			env = append(env, fmt.Sprintf("DISK_%d_UUID=%s", i, dk.UUID))
		}
	}
	for i, n := range inst.NICs {
		env = append(env,
			fmt.Sprintf("NIC_%d_MAC=%s", i, n.MAC), fmt.Sprintf("NIC_%d_IP=%s", i, n.IP),
			fmt.Sprintf("NIC_%d_MODE=%s", i, n.Mode), fmt.Sprintf("NIC_%d_LINK=%s", i, n.Link))
		if n.Mode == "bridged" {
			env = append(env, fmt.Sprintf("NIC_%d_BRIDGE=%s", i, n.Link))
		}
		if n.UUID != "" {
			env = append(env, fmt.Sprintf("NIC_%d_UUID=%s", i, n.UUID))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(inst.HV)) {
		env = append(env, "INSTANCE_HV_"+k+"="+inst.HV[k])
	}
	for _, k := range slices.Sorted(maps.Keys(inst.BE)) {
		env = append(env, "INSTANCE_BE_"+k+"="+inst.BE[k])
	}
	for _, k := range slices.Sorted(maps.Keys(inst.Params)) {
		if _, ok := d.Parameters[k]; !ok {
			return nil, fmt.Errorf("os %s: unknown parameter %q (known: %s): %w", d.Name, k, strings.Join(slices.Sorted(maps.Keys(d.Parameters)), ", "), ErrInvalid)
		}
		env = append(env, "OSP_"+strings.ToUpper(k)+"="+inst.Params[k])
	}
	return env, nil
}

// diskBackend is DISK_<n>_BACKEND_TYPE of a disk.
func diskBackend(dk OSDisk) string {
	if dk.Backend != "" {
		return dk.Backend
	}
	if st, err := os.Stat(dk.Path); err == nil && st.Mode()&fs.ModeDevice != 0 {
		return "block"
	}
	return "file:loop"
}

// run runs one script with the environment; its output goes to out.
func (d *OSDefinition) run(ctx context.Context, script string, env []string, out io.Writer, args ...string) error {
	return d.runIO(ctx, script, env, nil, nil, out, args...)
}

// runIO runs one script with stdin and stdout given (nil: none, or stdout
// joins out); stderr goes to out, and its last lines into the error. On
// ctx's end the script's process group gets SIGTERM (its cleanup traps
// unmount and detach what it set up), SIGKILL 30 s later.
func (d *OSDefinition) runIO(ctx context.Context, script string, env []string, stdin io.Reader, stdout, out io.Writer, args ...string) error {
	if !d.Scripts[script] {
		return fmt.Errorf("os %s: no %s script: %w", d.Name, script, ErrInvalid)
	}
	cmd := command(ctx, filepath.Join(d.Dir, script), args...)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Env, cmd.Dir, cmd.Stdin = env, d.Dir, stdin
	var tail bytes.Buffer
	w := io.Writer(&tailWriter{buf: &tail})
	if out != nil {
		w = io.MultiWriter(out, w)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("os %s: %s: %w", d.Name, script, ctx.Err())
		}
		return fmt.Errorf("os %s: %s: %w: %s", d.Name, script, err, lastLines(tail.String(), 10))
	}
	return nil
}

// Create runs the create script (INSTANCE_REINSTALL=1 when reinstall).
func (d *OSDefinition) Create(ctx context.Context, inst OSInstance, reinstall bool, out io.Writer) error {
	env, err := d.env(inst)
	if err != nil {
		return err
	}
	if reinstall {
		env = append(env, "INSTANCE_REINSTALL=1")
	}
	return d.run(ctx, "create", env, out)
}

// Rename runs the rename script with OLD_INSTANCE_NAME.
func (d *OSDefinition) Rename(ctx context.Context, inst OSInstance, oldName string, out io.Writer) error {
	env, err := d.env(inst)
	if err != nil {
		return err
	}
	return d.run(ctx, "rename", append(env, "OLD_INSTANCE_NAME="+oldName), out)
}

// Verify runs `verify parameters` to validate the OSP_* values.
func (d *OSDefinition) Verify(ctx context.Context, inst OSInstance, out io.Writer) error {
	env, err := d.env(inst)
	if err != nil {
		return err
	}
	return d.run(ctx, "verify", env, out, "parameters")
}
