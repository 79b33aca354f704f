package nodeagent

import "strings"

// splitFQDN splits an instance name into the guest's hostname (the first
// label) and its domain (the rest, "" for a one-label name).
func splitFQDN(name string) (host, domain string) {
	host, domain, _ = strings.Cut(name, ".")
	return host, domain
}
