package libvirt

import (
	"errors"
	"fmt"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
)

// errConn marks an error of the transport, not of libvirt: the connection is
// unusable.
var errConn = errors.New("connection lost")

// mapErr wraps a libvirt error with the matching hv sentinel.
func mapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	what := op
	if name != "" {
		what = fmt.Sprintf("%s %q", op, name)
	}
	var le golibvirt.Error
	if !errors.As(err, &le) {
		if errors.Is(err, hv.ErrHypervisorDown) {
			return fmt.Errorf("libvirt: %s: %w", what, err)
		}
		return fmt.Errorf("libvirt: %s: %w: %w", what, hv.ErrHypervisorDown, err)
	}
	var sentinel error
	switch golibvirt.ErrorNumber(le.Code) {
	case golibvirt.ErrNoDomain:
		sentinel = hv.ErrNotFound
	case golibvirt.ErrDomExist:
		sentinel = hv.ErrAlreadyExists
	case golibvirt.ErrOperationInvalid:
		sentinel = hv.ErrWrongState
	case golibvirt.ErrNoSupport, golibvirt.ErrOperationUnsupported, golibvirt.ErrNoConnect, golibvirt.ErrArgumentUnsupported:
		sentinel = hv.ErrUnsupported
	case golibvirt.ErrXMLError, golibvirt.ErrConfigUnsupported, golibvirt.ErrXMLDetail:
		sentinel = hv.ErrInvalidSpec
	default:
		return fmt.Errorf("libvirt: %s: %w (code %d)", what, err, le.Code)
	}
	return fmt.Errorf("libvirt: %s: %w: %s (code %d)", what, sentinel, le.Message, le.Code)
}

func isLibvirtErr(err error) bool {
	var le golibvirt.Error
	return errors.As(err, &le)
}

// isLocal reports errors made by the driver itself (already classified),
// which say nothing about the connection.
func isLocal(err error) bool {
	for _, s := range []error{hv.ErrNotFound, hv.ErrAlreadyExists, hv.ErrWrongState, hv.ErrUnsupported, hv.ErrInvalidSpec, hv.ErrTimeout, hv.ErrInsufficientResources} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
