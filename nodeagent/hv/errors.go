package hv

import "errors"

// Sentinel errors. Drivers wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound: no domain of that name is defined.
	ErrNotFound = errors.New("hv: domain not found")
	// ErrAlreadyExists: a domain of that name (or UUID) is already defined.
	ErrAlreadyExists = errors.New("hv: domain already exists")
	// ErrWrongState: the operation is not valid in the domain's current state
	// (start a running domain, reboot a stopped one, undefine a running one).
	ErrWrongState = errors.New("hv: domain in wrong state")
	// ErrHypervisorDown: the hypervisor did not answer in time or the
	// connection to it is lost; the node's hypervisor should be reported failed.
	ErrHypervisorDown = errors.New("hv: hypervisor down")
	// ErrUnsupported: the hypervisor kind or feature is not available here.
	ErrUnsupported = errors.New("hv: unsupported")
	// ErrInvalidSpec: the DomainSpec is incomplete or inconsistent.
	ErrInvalidSpec = errors.New("hv: invalid domain spec")
	// ErrTimeout: a graceful shutdown did not complete within its timeout; the
	// domain is still running.
	ErrTimeout = errors.New("hv: timed out")
)

// ErrInsufficientResources: the node lacks the memory to start the domain.
var ErrInsufficientResources = errors.New("hv: insufficient resources")
