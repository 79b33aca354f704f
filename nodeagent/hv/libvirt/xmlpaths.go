package libvirt

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"
)

// replacePaths replaces every path of paths (old -> new) in a domain's
// XML where it stands as a whole attribute value or element text (so that
// ".../disk1" does not touch ".../disk10"). Every old path must occur.
func replacePaths(doc string, paths map[string]string) (string, error) {
	olds := make([]string, 0, len(paths))
	for o := range paths {
		olds = append(olds, o)
	}
	sort.Strings(olds)
	for _, o := range olds {
		n := paths[o]
		if o == n {
			continue
		}
		eo, en := escape(o), escape(n)
		found := false
		for _, q := range [][2]string{{"'", "'"}, {`"`, `"`}, {">", "<"}} {
			from, to := q[0]+eo+q[1], q[0]+en+q[1]
			if strings.Contains(doc, from) {
				found = true
				doc = strings.ReplaceAll(doc, from, to)
			}
		}
		if !found {
			return "", fmt.Errorf("path %s is not in the domain's definition", o)
		}
	}
	return doc, nil
}

func escape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
