package master

import (
	"github.com/drover-project/drover/api"
)

// validName checks that name is an RFC 1123 hostname (node and user names).
// TODO: switch to api.ValidHostname once it is committed.
func validName(what, name string) error {
	if name == "" || len(name) > 253 {
		return api.Errorf(api.CodeWrongInput, "%s name %q: want 1 to 253 characters", what, name)
	}
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 || name[i-1] == '-' {
				return api.Errorf(api.CodeWrongInput, "%s name %q is not an RFC 1123 hostname", what, name)
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return api.Errorf(api.CodeWrongInput, "%s name %q is not an RFC 1123 hostname", what, name)
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return api.Errorf(api.CodeWrongInput, "%s name %q is not an RFC 1123 hostname: character %q", what, name, c)
		}
		label++
		if label > 63 {
			return api.Errorf(api.CodeWrongInput, "%s name %q: label longer than 63 characters", what, name)
		}
	}
	if label == 0 || name[len(name)-1] == '-' {
		return api.Errorf(api.CodeWrongInput, "%s name %q is not an RFC 1123 hostname", what, name)
	}
	return nil
}
