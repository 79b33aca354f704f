package drbd

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
)

// Version is the kernel module's DRBD version.
type Version struct {
	Major, Minor, Patch int
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// V84 and V9 are the module generations drover supports.
var (
	V84 = Version{8, 4, 0}
	V9  = Version{9, 0, 0}
)

var procRE = regexp.MustCompile(`(?m)^version: ([0-9]+)\.([0-9]+)\.([0-9]+)`)

// ParseProc reads the version from /proc/drbd's text.
func ParseProc(text string) (Version, error) {
	m := procRE.FindStringSubmatch(text)
	if m == nil {
		return Version{}, fmt.Errorf("drbd: no version line in /proc/drbd")
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	return Version{a, b, c}, nil
}

// KernelVersion reads /proc/drbd (an error when no DRBD module is loaded).
func KernelVersion() (Version, error) {
	b, err := os.ReadFile("/proc/drbd")
	if err != nil {
		return Version{}, fmt.Errorf("drbd: module not loaded: %w", err)
	}
	return ParseProc(string(b))
}
