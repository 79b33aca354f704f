package master

// Test hooks for the external tests of this package.
var (
	AllocMACs      = allocMACs
	InstanceStatus = instanceStatus
	MACString      = macString
	Backoff        = backoff
)
