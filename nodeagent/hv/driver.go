package hv

import (
	"context"
	"io"
	"time"
)

// Driver runs domains on one node's hypervisor. All methods are safe for
// concurrent use and honour the context's deadline; a driver whose hypervisor
// does not answer returns ErrHypervisorDown instead of blocking.
type Driver interface {
	// Name is the hypervisor kind this driver serves ("fake", "kvm", "lxc"...).
	Name() Kind
	// Define makes a persistent, stopped domain from spec. ErrAlreadyExists if
	// the name is taken.
	Define(ctx context.Context, spec DomainSpec) error
	// Undefine removes a stopped domain's definition (not its disks).
	// ErrWrongState if it is running, ErrNotFound if unknown.
	Undefine(ctx context.Context, name string) error
	// Start boots a defined, stopped domain. ErrWrongState if it runs.
	Start(ctx context.Context, name string) error
	// Shutdown asks the guest to power off (ACPI / init signal) and waits up to
	// timeout for it to stop. It returns ErrTimeout, with the domain still
	// running, if the guest did not comply: the caller decides whether to
	// Destroy. A stopped domain is ErrWrongState.
	Shutdown(ctx context.Context, name string, timeout time.Duration) error
	// Destroy stops a running domain at once (power off). ErrWrongState if it
	// is not running.
	Destroy(ctx context.Context, name string) error
	// Reboot asks a running domain to reboot. ErrWrongState if it is not running.
	Reboot(ctx context.Context, name string) error
	// State reports one domain's state.
	State(ctx context.Context, name string) (DomainState, error)
	// List reports every defined domain, running or not, sorted by name.
	List(ctx context.Context) ([]DomainInfo, error)
	// Resources reports the node's capacity and what running domains use.
	Resources(ctx context.Context) (NodeResources, error)
	// Console opens the domain's serial console log for reading (from the
	// start of the log; EOF at its current end). Where the hypervisor has
	// only a pty (lxc), it is a live stream of what the guest prints from now
	// on, until Close. ErrUnsupported where there is no console (test).
	Console(ctx context.Context, name string) (io.ReadCloser, error)
	// Close releases the driver's connections. It does not stop domains.
	Close() error
}

// Migrator is implemented by drivers that can live-migrate a running domain to
// another node's hypervisor.
type Migrator interface {
	Migrate(ctx context.Context, name, destURI string, opts MigrateOptions) error
}

// MigrateOptions tune a live migration.
type MigrateOptions struct {
	// Live keeps the guest running during the copy (default for callers).
	Live bool
	// ListenAddress / MigrateURI are passed to libvirt (addresses per call,
	// since qemu.conf's migration_address may not name a local address).
	ListenAddress string
	MigrateURI    string
	// CopyStorage copies non-shared disks (target files must exist).
	CopyStorage bool
	// Unsafe allows migration with disks libvirt deems unsafe (e.g. the same
	// path on both sides, as with DRBD).
	Unsafe bool
	// Bandwidth in MiB/s, 0 = unlimited.
	Bandwidth uint64
	// Paths maps paths of the domain on this node (disk files or devices,
	// console log, kernel, initrd) to the same files on the destination,
	// where they differ: the domain's live and persistent definitions are
	// sent to the destination with them replaced.
	Paths map[string]string
	// Paused leaves the domain paused on the destination: the caller
	// resumes it (Resumer) once it knows the source's copy is gone, so a
	// migration cut short never leaves two copies running.
	Paused bool
}

// Resumer is implemented by drivers that can resume a paused domain (the
// destination's copy of a migration made with MigrateOptions.Paused).
type Resumer interface {
	Resume(ctx context.Context, name string) error
}

// JobWaiter is implemented by drivers whose daemon runs jobs on a domain
// by itself (libvirt: a migration, or the recovery of one after libvirtd
// restarted). WaitIdle returns once the domain has no such job (or is
// gone), so that a state read afterwards is not overtaken by the daemon.
type JobWaiter interface {
	WaitIdle(ctx context.Context, name string) error
}

// MigrationStatser is implemented by drivers that report the statistics of
// a domain's last completed migration (on the destination: libvirt hands
// them over at the end of the migration).
type MigrationStatser interface {
	LastMigration(ctx context.Context, name string) (MigrationStats, error)
}

// MigrationStats are the figures of a completed migration (libvirt's
// completed job info; zero where the hypervisor does not say).
type MigrationStats struct {
	// Total is the whole migration, Downtime the time the guest was paused.
	Total    time.Duration `json:"total_ns"`
	Downtime time.Duration `json:"downtime_ns"`
	// DataBytes is what was transferred (memory and disks), MemoryBytes and
	// DiskBytes its parts.
	DataBytes   uint64 `json:"data_bytes"`
	MemoryBytes uint64 `json:"memory_bytes"`
	DiskBytes   uint64 `json:"disk_bytes"`
}

// Saver is implemented by drivers that can save a running domain's state
// to a file (the domain stops) and restore it (hibernate migration).
type Saver interface {
	// Save writes the domain's memory and device state to path and stops it.
	Save(ctx context.Context, name, path string) error
	// Restore starts the domain saved at path; paths are replaced as in
	// MigrateOptions.Paths (the file may come from another node).
	Restore(ctx context.Context, path string, paths map[string]string) error
}

// EventSource is implemented by drivers that report domain lifecycle changes.
// The channel is closed when ctx is done or the driver is closed; across a
// hypervisor restart the driver resubscribes by itself (events that happened
// while it was down are lost: callers resync with List).
type EventSource interface {
	Events(ctx context.Context) (<-chan Event, error)
}

// HealthReporter is implemented by drivers that hold a connection to a
// hypervisor daemon; the agent reports the node's hypervisor as failed while
// Health returns an error.
type HealthReporter interface {
	Health() error
}

// Event is one domain lifecycle change.
type Event struct {
	Domain string
	UUID   string
	Type   EventType
	// Detail is the hypervisor's own detail code (libvirt's), for logs.
	Detail int
	// State is the state the domain is now in, derived from Type.
	State DomainState
	Time  time.Time
}

// EventType is the kind of lifecycle change.
type EventType string

const (
	EventDefined   EventType = "defined"
	EventUndefined EventType = "undefined"
	EventStarted   EventType = "started"
	EventSuspended EventType = "suspended"
	EventResumed   EventType = "resumed"
	EventStopped   EventType = "stopped"
	EventShutdown  EventType = "shutdown"
	EventCrashed   EventType = "crashed"
	EventOther     EventType = "other"
	// EventReconnected is sent after the driver reconnected to a restarted
	// hypervisor: events may have been lost, the consumer should resync.
	EventReconnected EventType = "reconnected"
)
