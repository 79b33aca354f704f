package master

import (
	"github.com/drover-project/drover/api"
)

// validName checks that name is an RFC 1123 hostname (node and user names).
func validName(what, name string) error {
	if err := api.ValidHostname(name); err != nil {
		return api.Errorf(api.CodeWrongInput, "%s: %s", what, api.AsError(err).Message)
	}
	return nil
}
