package api

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxHostnameLen is the longest name ValidHostname accepts (RFC 1123).
const MaxHostnameLen = 253

// MaxInstanceNameLen is the longest instance name: it becomes the guest's
// hostname (Linux allows 64 bytes, a DNS label 63), the libvirt domain name
// and a directory name on the node.
const MaxInstanceNameLen = 63

// NodeUserPrefix starts the subject of every node agent's credentials
// ("node.<node name>"); no API user may have a name that starts with it.
const NodeUserPrefix = "node."

// ValidInstanceName checks an instance name: an RFC 1123 hostname of at most
// MaxInstanceNameLen characters. Names are unique without regard to case
// (the master checks that).
func ValidInstanceName(name string) error {
	if len(name) > MaxInstanceNameLen {
		return Errorf(CodeWrongInput, "instance name %s is longer than %d characters (it is the guest's hostname)", quoteShort(name), MaxInstanceNameLen)
	}
	if err := ValidHostname(name); err != nil {
		return Errorf(CodeWrongInput, "instance name: %s", AsError(err).Message)
	}
	return nil
}

// ValidUserName checks an API user name: an RFC 1123 hostname that does not
// start with NodeUserPrefix (in any case), which would make the user's
// tokens those of a node agent.
func ValidUserName(name string) error {
	if err := ValidHostname(name); err != nil {
		return Errorf(CodeWrongInput, "user name: %s", AsError(err).Message)
	}
	if strings.HasPrefix(strings.ToLower(name), NodeUserPrefix) {
		return Errorf(CodeWrongInput, "user name %s: names starting with %q are the identities of node agents", quoteShort(name), NodeUserPrefix)
	}
	return nil
}

// ValidHostname checks that name is an RFC 1123 hostname: dot-separated labels
// of 1 to 63 letters, digits and hyphens, neither starting nor ending with a
// hyphen, 253 characters at most in all, no trailing dot. Names are compared as
// given; callers that want case-insensitive names lower-case them first. Every
// failure is an *Error with CodeWrongInput.
func ValidHostname(name string) error {
	if name == "" {
		return Errorf(CodeWrongInput, "name is empty")
	}
	if len(name) > MaxHostnameLen {
		return Errorf(CodeWrongInput, "name %s is longer than %d characters", quoteShort(name), MaxHostnameLen)
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			c := name[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return Errorf(CodeWrongInput, "name %s is not an RFC 1123 hostname: character %q not allowed", quoteShort(name), rune(c))
			}
			continue
		}
		label := name[start:i]
		switch {
		case label == "":
			return Errorf(CodeWrongInput, "name %s is not an RFC 1123 hostname: empty label", quoteShort(name))
		case len(label) > 63:
			return Errorf(CodeWrongInput, "name %s is not an RFC 1123 hostname: label longer than 63 characters", quoteShort(name))
		case label[0] == '-' || label[len(label)-1] == '-':
			return Errorf(CodeWrongInput, "name %s is not an RFC 1123 hostname: label starts or ends with '-'", quoteShort(name))
		}
		start = i + 1
	}
	return nil
}

// validTokenID checks a token id (jti) taken from a URL: 1 to 128 letters,
// digits, '-', '_' or '.'.
func validTokenID(id string) error {
	if id == "" || len(id) > 128 {
		return Errorf(CodeWrongInput, "token id %s must have 1 to 128 characters", quoteShort(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return Errorf(CodeWrongInput, "token id %s: character %q not allowed", quoteShort(id), rune(c))
		}
	}
	return nil
}

// parseJobID parses a job id taken from a URL: a decimal number above zero.
func parseJobID(s string) (uint64, error) {
	if s == "" || len(s) > 20 || s[0] < '1' || s[0] > '9' {
		return 0, Errorf(CodeWrongInput, "job id %s is not a positive decimal number", quoteShort(s))
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, Errorf(CodeWrongInput, "job id %s is not a positive decimal number", quoteShort(s))
	}
	return id, nil
}

// quoteShort quotes s for an error message, cutting it at 80 bytes so that a
// hostile input cannot blow up logs and answers.
func quoteShort(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%q...", s[:80])
	}
	return strconv.Quote(s)
}
