package main

// Reading docs/install.md and dist/systemd/*.service for
// TestInstallDocThreeHosts: the shell blocks of the guide's sections, a
// unit's EnvironmentFile and ExecStart, expanded as systemd does.

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// docBlocks returns the indented code blocks of each numbered section of a
// markdown guide ("## 4. Cluster directory" is section "4"), dedented.
func docBlocks(md string) map[string][]string {
	secs := map[string][]string{}
	head := regexp.MustCompile(`^## ([0-9]+)\. `)
	sec := ""
	var cur []string
	flush := func() {
		if len(cur) > 0 && sec != "" {
			secs[sec] = append(secs[sec], strings.TrimRight(strings.Join(cur, "\n"), "\n")+"\n")
		}
		cur = nil
	}
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "    "):
			cur = append(cur, l[4:])
		case strings.TrimSpace(l) == "" && len(cur) > 0 && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    "):
			cur = append(cur, "")
		default:
			flush()
			if m := head.FindStringSubmatch(l); m != nil {
				sec = m[1]
			}
		}
	}
	flush()
	return secs
}

// unitService is what the systemctl stand-in needs of a unit's [Service].
type unitService struct {
	Type      string
	EnvFiles  []string // "-" prefix kept: optional file
	Env       []string // Environment= assignments
	ExecStart string
	UMask     string
}

func parseUnit(text string) (unitService, error) {
	var u unitService
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if strings.HasPrefix(l, "[") {
			section = l
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || section != "[Service]" {
			continue
		}
		switch k {
		case "Type":
			u.Type = v
		case "EnvironmentFile":
			u.EnvFiles = append(u.EnvFiles, v)
		case "Environment":
			u.Env = append(u.Env, splitWords(v)...)
		case "ExecStart":
			u.ExecStart = v
		case "UMask":
			u.UMask = v
		}
	}
	if u.ExecStart == "" {
		return u, fmt.Errorf("unit has no ExecStart")
	}
	return u, nil
}

// parseEnvFile reads an EnvironmentFile: KEY=VALUE lines, # comments,
// values optionally in single or double quotes.
func parseUnitEnvFile(b []byte) []string {
	var env []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env = append(env, strings.TrimSpace(k)+"="+v)
	}
	return env
}

// splitWords splits on blanks, keeping double-quoted words together.
func splitWords(s string) []string {
	var words []string
	var cur strings.Builder
	inQuote, has := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, has = !inQuote, true
		case (r == ' ' || r == '\t') && !inQuote:
			if has {
				words = append(words, cur.String())
			}
			cur.Reset()
			has = false
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if has {
		words = append(words, cur.String())
	}
	return words
}

// expandExecStart expands a command line as systemd does: a word that is
// exactly $NAME becomes the value's blank-separated words; ${NAME} is
// replaced inside its word.
func expandExecStart(line string, env []string) []string {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	braced := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	bare := regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)$`)
	var argv []string
	for _, w := range splitWords(line) {
		if m := bare.FindStringSubmatch(w); m != nil {
			argv = append(argv, strings.Fields(vars[m[1]])...)
			continue
		}
		argv = append(argv, braced.ReplaceAllStringFunc(w, func(s string) string { return vars[s[2:len(s)-1]] }))
	}
	return argv
}

// TestInstallDocParsing: the readers above on the repository's own files
// (no root needed; the end-to-end test relies on them).
func TestInstallDocParsing(t *testing.T) {
	md, err := os.ReadFile("../../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	secs := docBlocks(string(md))
	if b := secs["4"]; len(b) == 0 || !strings.Contains(b[0], "drover cluster init") {
		t.Fatalf("section 4's first block: %q", b)
	}
	unit, err := os.ReadFile("../../dist/systemd/drover-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(unit))
	if err != nil {
		t.Fatal(err)
	}
	env := parseUnitEnvFile([]byte("# x\nDROVER_HYPERVISOR=kvm\nDROVER_AGENT_OPTS=\"--metrics-listen 10.0.0.11:9180 --watchdog none\"\n"))
	got := strings.Join(expandExecStart(u.ExecStart, env), "|")
	want := "/usr/local/bin/drover|agent|--credentials|/etc/drover/node.json|--hypervisor|kvm|--storage-dir|/var/lib/drover/storage|--metrics-listen|10.0.0.11:9180|--watchdog|none"
	if got != want {
		t.Fatalf("agent ExecStart expands to\n%s\nwant\n%s", got, want)
	}
	if u.Type != "simple" || len(u.EnvFiles) != 1 || u.EnvFiles[0] != "/etc/default/drover-agent" {
		t.Fatalf("agent unit: %+v", u)
	}
}
