package templates

import (
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

	"github.com/drover-project/drover/api"
)

// DefaultOSSearchPath is where Ganeti looks for OS definitions (its
// os_search_path); Debian's ganeti-instance-* packages install into
// /usr/share/ganeti/os.
var DefaultOSSearchPath = []string{"/srv/ganeti/os", "/usr/local/lib/ganeti/os", "/usr/lib/ganeti/os", "/usr/share/ganeti/os"}

// OSInfo is what a node reports about one OS definition on its search path
// (as `gnt-os diagnose` does): valid ones with their variants and
// parameters, invalid ones with the reason.
type OSInfo struct {
	Name        string            `json:"name"`
	Dir         string            `json:"dir"`
	APIVersions []int             `json:"api_versions,omitempty"`
	Variants    []string          `json:"variants,omitempty"`
	Parameters  map[string]string `json:"parameters,omitempty"`
	Error       string            `json:"error,omitempty"`
}

// Refs are the names instances may use for the OS: NAME+VARIANT for each
// variant, or NAME when it has none.
func (o OSInfo) Refs() []string {
	if o.Error != "" {
		return nil
	}
	if len(o.Variants) == 0 {
		return []string{o.Name}
	}
	refs := make([]string, len(o.Variants))
	for i, v := range o.Variants {
		refs[i] = o.Name + "+" + v
	}
	return refs
}

// Resolve checks ref (NAME or NAME+VARIANT) against this OS: an OS with
// variants needs one of them named, as Ganeti requires.
func (o OSInfo) Resolve(ref string) (variant string, err error) {
	name, variant, hasVariant := strings.Cut(ref, "+")
	switch {
	case name != o.Name:
		return "", fmt.Errorf("os %s: not %s: %w", ref, o.Name, ErrNotFound)
	case o.Error != "":
		return "", fmt.Errorf("os %s is not valid on this node: %s: %w", name, o.Error, ErrInvalid)
	case len(o.Variants) > 0 && !hasVariant:
		return "", fmt.Errorf("os %s has variants (%s): name one as %s+VARIANT: %w", name, strings.Join(o.Variants, ", "), name, ErrInvalid)
	case hasVariant && len(o.Variants) > 0 && !slices.Contains(o.Variants, variant):
		return "", fmt.Errorf("os %s: no variant %q (has %s): %w", name, variant, strings.Join(o.Variants, ", "), ErrInvalid)
	case hasVariant && len(o.Variants) == 0:
		return "", fmt.Errorf("os %s has no variants, %q asked: %w", name, variant, ErrInvalid)
	}
	return variant, nil
}

// CheckParams refuses OS parameters the definition does not declare.
func (o OSInfo) CheckParams(params map[string]string) error {
	for k := range params {
		if _, ok := o.Parameters[k]; !ok {
			known := slices.Sorted(maps.Keys(o.Parameters))
			return fmt.Errorf("os %s: unknown parameter %q (known: %s): %w", o.Name, k, strings.Join(known, ", "), ErrInvalid)
		}
	}
	return nil
}

// ListOS reads every OS definition on the search path; the first directory
// of a name wins, as in Ganeti. Directories that are not OS definitions
// (no ganeti_api_version) are skipped; broken ones are listed with Error.
func ListOS(searchPath []string) []OSInfo {
	var out []OSInfo
	seen := map[string]bool{}
	for _, base := range searchPath {
		ents, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, e := range ents {
			dir := filepath.Join(base, e.Name())
			if seen[e.Name()] || !api.ValidOSName(e.Name()) {
				continue
			}
			if st, err := os.Stat(filepath.Join(dir, "ganeti_api_version")); err != nil || !st.Mode().IsRegular() {
				continue
			}
			seen[e.Name()] = true
			out = append(out, osInfo(dir))
		}
	}
	slices.SortFunc(out, func(a, b OSInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func osInfo(dir string) OSInfo {
	d, err := LoadOSDefinition(dir)
	if err != nil {
		return OSInfo{Name: filepath.Base(dir), Dir: dir, Error: err.Error()}
	}
	return OSInfo{Name: d.Name, Dir: dir, APIVersions: d.APIVersions, Variants: d.Variants, Parameters: d.Parameters}
}

// FindOS loads the OS definition ref names (NAME or NAME+VARIANT) from the
// search path and returns it with the variant.
func FindOS(searchPath []string, ref string) (*OSDefinition, string, error) {
	name, _, _ := strings.Cut(ref, "+")
	if !api.ValidOSName(name) {
		return nil, "", fmt.Errorf("os %q: not a valid OS name: %w", ref, ErrInvalid)
	}
	for _, base := range searchPath {
		dir := filepath.Join(base, name)
		if _, err := os.Stat(filepath.Join(dir, "ganeti_api_version")); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, "", fmt.Errorf("os %s: %w", name, err)
		}
		info := osInfo(dir)
		variant, err := info.Resolve(ref)
		if err != nil {
			return nil, "", err
		}
		d, err := LoadOSDefinition(dir)
		if err != nil {
			return nil, "", err
		}
		return d, variant, nil
	}
	return nil, "", fmt.Errorf("os %s: not found in %s: %w", name, strings.Join(searchPath, ":"), ErrNotFound)
}

// Export runs the export script for disk index: the dump of that disk is
// written to w (the script's stdout); its messages go to out.
func (d *OSDefinition) Export(ctx context.Context, inst OSInstance, index int, w io.Writer, out io.Writer) error {
	// EXP_SIZE_FD (an optional size estimate) is not offered.
	env, err := d.streamEnv(inst, index, "EXPORT")
	if err != nil {
		return err
	}
	return d.runIO(ctx, "export", env, nil, w, out)
}

// Import runs the import script for disk index, feeding it r (what an
// export wrote) on stdin.
func (d *OSDefinition) Import(ctx context.Context, inst OSInstance, index int, r io.Reader, out io.Writer) error {
	env, err := d.streamEnv(inst, index, "IMPORT")
	if err != nil {
		return err
	}
	return d.runIO(ctx, "import", env, r, nil, out)
}

// streamEnv is the environment of export/import of one disk: the common
// variables plus <P>_INDEX, <P>_DISK_PATH and the historical <P>_DEVICE.
func (d *OSDefinition) streamEnv(inst OSInstance, index int, prefix string) ([]string, error) {
	if index < 0 || index >= len(inst.Disks) {
		return nil, fmt.Errorf("os %s: disk %d of %d: %w", d.Name, index, len(inst.Disks), ErrInvalid)
	}
	env, err := d.env(inst)
	if err != nil {
		return nil, err
	}
	p := inst.Disks[index].Path
	return append(env, prefix+"_INDEX="+strconv.Itoa(index), prefix+"_DISK_PATH="+p, prefix+"_DEVICE="+p), nil
}
