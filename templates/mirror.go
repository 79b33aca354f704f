package templates

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// FallbackMirror is used when the host's APT sources name no Debian mirror.
const FallbackMirror = "http://deb.debian.org/debian"

// DefaultMirror returns the Debian archive URL configured in the host's APT
// sources (/etc/apt/sources.list and sources.list.d/*.list|*.sources, one-line
// and deb822 formats) that carries suite and the main component, skipping
// security and updates suites; FallbackMirror if none does.
func DefaultMirror(suite string) string {
	return defaultMirror("/etc/apt", suite)
}

func defaultMirror(aptDir, suite string) string {
	files := []string{filepath.Join(aptDir, "sources.list")}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", pat))
		files = append(files, m...)
	}
	for _, f := range files {
		for _, e := range readSources(f) {
			if !slices.Contains(e.types, "deb") || !slices.Contains(e.components, "main") {
				continue
			}
			if suite != "" && !slices.Contains(e.suites, suite) {
				continue
			}
			for _, u := range e.uris {
				if strings.Contains(u, "security") {
					continue
				}
				return strings.TrimSuffix(u, "/")
			}
		}
	}
	return FallbackMirror
}

type sourceEntry struct {
	types, uris, suites, components []string
}

// readSources parses one APT sources file; unreadable files give nothing.
func readSources(file string) []sourceEntry {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []sourceEntry
	deb822 := strings.HasSuffix(file, ".sources")
	var cur sourceEntry
	flush := func() {
		if len(cur.uris) > 0 {
			out = append(out, cur)
		}
		cur = sourceEntry{}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue // a comment line does not end a deb822 stanza
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if !deb822 {
			fields := strings.Fields(line)
			// deb [options] uri suite component...
			if len(fields) < 3 {
				continue
			}
			e := sourceEntry{types: fields[:1]}
			rest := fields[1:]
			if strings.HasPrefix(rest[0], "[") {
				for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
					rest = rest[1:]
				}
				if len(rest) > 0 {
					rest = rest[1:]
				}
			}
			if len(rest) < 3 {
				continue
			}
			e.uris, e.suites, e.components = rest[:1], rest[1:2], rest[2:]
			out = append(out, e)
			continue
		}
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		vals := strings.Fields(v)
		switch strings.ToLower(k) {
		case "types":
			cur.types = vals
		case "uris":
			cur.uris = vals
		case "suites":
			cur.suites = vals
		case "components":
			cur.components = vals
		}
	}
	flush()
	return out
}
