package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// Exit codes; scripts may rely on them (docs/cli.md).
const (
	exitOK            = 0
	exitFailure       = 1 // operation or job failed, internal error
	exitUsage         = 2 // bad arguments or wrong_input
	exitAuth          = 3 // unauthorized or forbidden
	exitNotFound      = 4 // unknown_entity
	exitUnavailable   = 5 // no master reachable, no leader
	exitAlreadyExists = 6 // already_exists
	exitWrongState    = 7 // wrong_state
	exitNoResources   = 8 // insufficient_resources
)

// exitCodeFor maps an error to the CLI's exit code.
func exitCodeFor(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	// urfave/cli reports missing required flags with an unexported type.
	if strings.HasPrefix(err.Error(), "Required flag") {
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	var ae *api.Error
	if !errors.As(err, &ae) {
		return exitFailure
	}
	switch ae.Code {
	case api.CodeWrongInput:
		return exitUsage
	case api.CodeUnauthorized, api.CodeForbidden:
		return exitAuth
	case api.CodeUnknownEntity:
		return exitNotFound
	case api.CodeUnavailable:
		return exitUnavailable
	case api.CodeAlreadyExists:
		return exitAlreadyExists
	case api.CodeWrongState:
		return exitWrongState
	case api.CodeInsufficientResources:
		return exitNoResources
	default:
		return exitFailure
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}
