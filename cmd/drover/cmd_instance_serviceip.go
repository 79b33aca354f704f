package main

import (
	"strings"

	"github.com/drover-project/drover/api"
)

// cutServiceIP takes service_ip=ADDR/PREFIX@DEV out of a -B list: the rest
// of the list, and the address (nil: not given; "": remove it).
func cutServiceIP(be string) (string, *string, error) {
	var rest []string
	var sip *string
	for _, kv := range splitList(be) {
		k, v, _ := strings.Cut(kv, "=")
		if strings.TrimSpace(k) != "service_ip" {
			rest = append(rest, kv)
			continue
		}
		v = strings.TrimSpace(v)
		if v != "" {
			if _, err := api.ParseServiceIP(v); err != nil {
				return "", nil, usagef("-B %s", api.AsError(err).Message)
			}
		}
		sip = &v
	}
	return strings.Join(rest, ","), sip, nil
}
