package master

import (
	"fmt"
)

func templateLock(name string) []string { return []string{"template/" + name} }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func refString(name string, version int) string {
	if version == 0 {
		return name
	}
	return fmt.Sprintf("%s@%d", name, version)
}
