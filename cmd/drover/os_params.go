package main

import "strings"

// parseOSParams reads -O name=value,name=value (Ganeti's form).
func parseOSParams(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("-O %s: want name=value", kv)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("-O: %s given twice", k)
		}
		out[k] = v
	}
	return out, nil
}
