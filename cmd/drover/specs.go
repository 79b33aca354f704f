package main

import (
	"strconv"
	"strings"

	"github.com/drover-project/drover/api"
)

// Ganeti's indexed forms of --disk and --net: "N:key=value,..." where N is
// the disk's or NIC's index; drover's plain forms ("10G", "link=br0") are
// the next index.

// parseIndexed splits "N:rest" into N and rest; without "N:" the index is
// next.
func parseIndexed(flag, s string, next int) (int, string, error) {
	head, rest, ok := strings.Cut(s, ":")
	if !ok {
		return next, s, nil
	}
	n, err := strconv.Atoi(head)
	if err != nil || n < 0 {
		return 0, "", usagef("--%s %q: the index before ':' must be 0, 1, ...", flag, s)
	}
	return n, rest, nil
}

// placeIndexed puts v at index i of list, which must be the next free one
// or a new one (Ganeti gives them in order: --disk 0:... --disk 1:...).
func placeIndexed[T any](flag string, list []T, set []bool, i int, v T) ([]T, []bool, error) {
	for len(list) <= i {
		var zero T
		list, set = append(list, zero), append(set, false)
	}
	if set[i] {
		return nil, nil, usagef("--%s %d given twice", flag, i)
	}
	list[i], set[i] = v, true
	return list, set, nil
}

// parseDisks reads the --disk values: "10G" or "N:size=10G".
func parseDisks(specs []string) ([]api.InstanceDisk, error) {
	var disks []api.InstanceDisk
	var set []bool
	for _, s := range specs {
		i, rest, err := parseIndexed("disk", s, len(disks))
		if err != nil {
			return nil, err
		}
		size := rest
		if strings.Contains(rest, "=") {
			size = ""
			for _, kv := range splitList(rest) {
				k, v, _ := strings.Cut(kv, "=")
				switch strings.TrimSpace(k) {
				case "size":
					size = v
				default:
					return nil, usagef("--disk %q: unknown parameter %q (size)", s, k)
				}
			}
			if size == "" {
				return nil, usagef("--disk %q: size= missing", s)
			}
		}
		n, err := parseMiB(size)
		if err != nil {
			return nil, err
		}
		if disks, set, err = placeIndexed("disk", disks, set, i, api.InstanceDisk{SizeMiB: n}); err != nil {
			return nil, err
		}
	}
	for i, ok := range set {
		if !ok {
			return nil, usagef("--disk %d missing (disks are numbered from 0 without gaps)", i)
		}
	}
	return disks, nil
}

// parseNICs reads the --net values: "link=BR", "N:link=BR", "N" (a NIC
// without link) or "N:mode=bridged,link=BR".
func parseNICs(specs []string) ([]api.InstanceNIC, error) {
	var nics []api.InstanceNIC
	var set []bool
	for _, s := range specs {
		i, rest, err := parseIndexed("net", s, len(nics))
		if err != nil {
			return nil, err
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			i, rest = n, "" // "--net 0": a NIC with defaults
		}
		var n api.InstanceNIC
		for _, kv := range splitList(rest) {
			k, v, ok := strings.Cut(kv, "=")
			switch k = strings.TrimSpace(k); {
			case !ok:
				return nil, usagef("--net %q: want link=BRIDGE", s)
			case k == "link":
				n.Link = v
			case k == "mode" && v == "bridged":
			case k == "mac":
				return nil, usagef("--net %q: the master gives out MACs", s)
			default:
				return nil, usagef("--net %q: unknown parameter %q (link, mode=bridged)", s, k)
			}
		}
		if nics, set, err = placeIndexed("net", nics, set, i, n); err != nil {
			return nil, err
		}
	}
	for i, ok := range set {
		if !ok {
			return nil, usagef("--net %d missing (NICs are numbered from 0 without gaps)", i)
		}
	}
	return nics, nil
}
