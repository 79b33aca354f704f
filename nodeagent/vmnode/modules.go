package vmnode

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// modIndex maps module names (with '_' for '-') to their .ko files.
type modIndex map[string]string

func modName(s string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(s), ".ko"), "-", "_")
}

// indexModules walks the trees; later trees override earlier ones (the DRBD
// 9 modules replace the in-tree DRBD 8.4).
func indexModules(trees ...string) (modIndex, error) {
	idx := modIndex{}
	for _, t := range trees {
		err := filepath.WalkDir(t, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".ko") {
				idx[modName(p)] = p
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("vmnode: modules in %s: %w", t, err)
		}
	}
	return idx, nil
}

// depends reads a module's "depends=" from its .modinfo section.
func depends(ko string) ([]string, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return nil, fmt.Errorf("vmnode: %s: %w", ko, err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("vmnode: %s has no .modinfo", ko)
	}
	b, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("vmnode: %s: %w", ko, err)
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := strings.CutPrefix(string(kv), "depends="); ok {
			if v == "" {
				return nil, nil
			}
			var out []string
			for _, d := range strings.Split(v, ",") {
				out = append(out, modName(d))
			}
			return out, nil
		}
	}
	return nil, nil
}

// loadOrder returns the wanted modules and their dependencies, each after
// what it depends on.
func (idx modIndex) loadOrder(want []string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(m string) error
	visit = func(m string) error {
		m = modName(m)
		switch state[m] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("vmnode: module dependency cycle at %s", m)
		}
		p, ok := idx[m]
		if !ok {
			return fmt.Errorf("vmnode: kernel module %s not found", m)
		}
		state[m] = 1
		deps, err := depends(p)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[m] = 2
		order = append(order, m)
		return nil
	}
	for _, m := range want {
		if err := visit(m); err != nil {
			return nil, err
		}
	}
	return order, nil
}
