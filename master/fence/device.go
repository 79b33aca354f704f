package fence

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// ErrInput means a fence device or its parameters are malformed.
var ErrInput = errors.New("fence: wrong input")

// Hidden replaces the value of a secret parameter wherever one is shown.
const Hidden = "(hidden)"

// Device is a node's fence device: a fence agent (fence_ipmilan, ...) and
// the parameters it gets on stdin besides action.
type Device struct {
	Agent  string            `json:"agent"`
	Params map[string]string `json:"params,omitempty"`
}

var (
	agentRE = regexp.MustCompile(`^fence_[a-z0-9_]+$`)
	paramRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
)

// ParseParams reads "name=value,name=value" (the CLI's --fence-param).
// Values may not hold a comma or a line break; the last of a name wins, as
// with the agents themselves.
func ParseParams(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%w: fence parameter %q is not name=value", ErrInput, kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

// Validate checks the agent's name and every parameter.
func (d Device) Validate() error {
	if !agentRE.MatchString(d.Agent) {
		return fmt.Errorf("%w: fence agent %q: want fence_<name> (fence_ipmilan, fence_redfish, ...)", ErrInput, d.Agent)
	}
	for k, v := range d.Params {
		switch {
		case !paramRE.MatchString(k):
			return fmt.Errorf("%w: fence parameter name %q: want lower-case letters, digits, _ and -", ErrInput, k)
		case k == "action":
			return fmt.Errorf("%w: fence parameter action is set by drover (off, on, status)", ErrInput)
		case strings.ContainsAny(v, "\n\r\x00"):
			return fmt.Errorf("%w: fence parameter %s holds a line break", ErrInput, k)
		}
	}
	return nil
}

// IsSecret reports whether a parameter's value must never be shown:
// passwords (password, passwd, snmp_priv_passwd, ...), the scripts that
// print them, SNMP communities, IPMI's Kg key (hexadecimal_kg) and anything
// named secret, token or key.
func IsSecret(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"passw", "secret", "token", "community", "key", "kg"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// Redacted is a copy of the parameters with every secret value Hidden.
func (d Device) Redacted() map[string]string {
	if len(d.Params) == 0 {
		return nil
	}
	out := make(map[string]string, len(d.Params))
	for k, v := range d.Params {
		if IsSecret(k) {
			v = Hidden
		}
		out[k] = v
	}
	return out
}

// Scrub removes the values of secret parameters from s (an agent's output,
// an error): the longest first, so that no part of one survives.
func (d Device) Scrub(s string) string {
	var vals []string
	for k, v := range d.Params {
		if IsSecret(k) && v != "" {
			vals = append(vals, v)
		}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, Hidden)
	}
	return s
}

// stdin is what the agent reads: action first, then the parameters in a
// stable order.
func (d Device) stdin(action string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "action=%s\n", action)
	names := make([]string, 0, len(d.Params))
	for k := range d.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%s\n", k, d.Params[k])
	}
	return b.String()
}
