package master

import (
	"fmt"
	"time"

	"github.com/drover-project/drover/master/jobs"
)

// Defaults of a master process.
const (
	// DefaultSessionTTL is the TTL (seconds) of a master's election session.
	DefaultSessionTTL = 2
	// DefaultTickMs and DefaultElectionMs are the embedded etcd's raft timing:
	// a dead etcd leader is replaced after about ElectionMs, and etcd's minimum
	// lease TTL is about 1.5*ElectionMs, which must stay below the session TTL.
	// A new etcd leader extends every lease by ElectionMs, so the worst
	// handover after kill -9 of the master that hosts the etcd leader is about
	// 2*ElectionMs (detection) + ElectionMs + SessionTTL: 3.5 s.
	DefaultTickMs     = 100
	DefaultElectionMs = 500
	// DefaultEtcdCompactionRetention is how long the embedded etcd keeps
	// old revisions (periodic compaction; docs/scale.md).
	DefaultEtcdCompactionRetention = time.Hour
	// DefaultJobArchiveAge is how long finished jobs stay in the queue (Ganeti).
	DefaultJobArchiveAge = 6 * time.Hour
	// DefaultEtcdReadyTimeout bounds the wait for the embedded member.
	DefaultEtcdReadyTimeout = 60 * time.Second
	// DefaultRequestTimeout bounds each etcd request.
	DefaultRequestTimeout = 5 * time.Second
)

// Config configures one master process.
type Config struct {
	// Dir is the cluster directory written by InitClusterDir.
	Dir string
	// Name of this master; must be in cluster.json.
	Name string
	// EtcdEndpoints, when set, makes the master use this external etcd cluster
	// (with the cluster's root user) instead of running an embedded member.
	EtcdEndpoints []string
	// TickMs and ElectionMs tune the embedded etcd (0: defaults).
	TickMs, ElectionMs uint
	// EtcdCompactionRetention is the embedded etcd's periodic compaction
	// retention: revisions older than this are compacted away (0:
	// DefaultEtcdCompactionRetention). Every watch of the masters and agents
	// reads again when etcd answers that its revision was compacted.
	EtcdCompactionRetention time.Duration
	// SessionTTL is the election session TTL in seconds (0: DefaultSessionTTL).
	SessionTTL int
	// APIListen overrides the API listen address (default the master's IP and
	// API port from cluster.json). "-" disables the HTTPS API (tests).
	APIListen string
	// JobArchiveAge: finished jobs older than this are archived (0: default).
	JobArchiveAge time.Duration
	// ArchiveInterval is how often the archiver runs (0: a minute).
	ArchiveInterval time.Duration
	// MaxRunningJobs caps the jobs the leader runs at once (0: 20).
	MaxRunningJobs int
	// Version is reported in the master registration and cluster info.
	Version string
	// EtcdReadyTimeout bounds the wait for the embedded member (0: default).
	EtcdReadyTimeout time.Duration
	// ExtraOps are opcode kinds registered besides the built-in ones (tests use
	// them for jobs that hold locks for a while).
	ExtraOps []jobs.Kind
	// RAPIAnonymousReads lets GETs of the Ganeti RAPI (/2/...) through
	// without credentials, as Ganeti does unless --require-authentication;
	// off by default (htools' -m sends no credentials).
	RAPIAnonymousReads bool
	// PasswordCost is the bcrypt cost of RAPI passwords (default
	// DefaultPasswordCost; tests use bcrypt.MinCost).
	PasswordCost int
	// EtcdLogLevel is the embedded etcd's log level on stderr: debug, info,
	// warn, error, or none (the default).
	EtcdLogLevel string
	// ReprotectAfter is how long the node of a drbd instance's secondary
	// may stay dead (fenced) before the reprotect controller gives the
	// instance a new secondary (0: DefaultReprotectAfter).
	ReprotectAfter time.Duration
}

func (c *Config) setDefaults() error {
	if c.Dir == "" || c.Name == "" {
		return fmt.Errorf("%w: Dir and Name are required", ErrClusterDir)
	}
	if c.TickMs == 0 {
		c.TickMs = DefaultTickMs
	}
	if c.ElectionMs == 0 {
		c.ElectionMs = DefaultElectionMs
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.EtcdCompactionRetention <= 0 {
		c.EtcdCompactionRetention = DefaultEtcdCompactionRetention
	}
	if len(c.EtcdEndpoints) == 0 {
		// etcd raises every lease's TTL to its minimum, 1.5 election
		// timeouts (rounded up to a second): a session TTL below it
		// would silently be longer than asked.
		if min := etcdMinLeaseTTL(c.TickMs, c.ElectionMs); int64(c.SessionTTL) < min {
			return fmt.Errorf("%w: session TTL %d s is below the embedded etcd's minimum lease TTL of %d s (1.5 x election timeout %d ms)",
				ErrConfig, c.SessionTTL, min, c.ElectionMs)
		}
	}
	if c.JobArchiveAge <= 0 {
		c.JobArchiveAge = DefaultJobArchiveAge
	}
	if c.ArchiveInterval <= 0 {
		c.ArchiveInterval = time.Minute
	}
	if c.MaxRunningJobs <= 0 {
		c.MaxRunningJobs = 20
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.EtcdReadyTimeout <= 0 {
		c.EtcdReadyTimeout = DefaultEtcdReadyTimeout
	}
	if c.ReprotectAfter <= 0 {
		c.ReprotectAfter = DefaultReprotectAfter
	}
	if c.EtcdLogLevel == "" {
		c.EtcdLogLevel = "none"
	}
	return nil
}

// etcdMinLeaseTTL is the minimum lease TTL in seconds that an etcd member
// with this raft timing grants (etcd's lessor: 1.5 election timeouts in
// whole ticks, rounded up to a second).
func etcdMinLeaseTTL(tickMs, electionMs uint) int64 {
	if tickMs == 0 {
		return 0
	}
	ticks := electionMs / tickMs
	ms := int64(3*ticks/2) * int64(tickMs)
	return (ms + 999) / 1000
}
