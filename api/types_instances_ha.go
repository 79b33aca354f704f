package api

import (
	"maps"
	"time"
)

// OpInstanceCleanup clears an instance's failure counts (InstanceCleanup).
const OpInstanceCleanup = "instance.cleanup"

// MaxHAPriority bounds ha_priority (either sign); MaxMigrationThreshold
// bounds migration_threshold.
const (
	MaxHAPriority         = 1000000
	MaxMigrationThreshold = 1000000
)

// InstanceHA are an instance's high-availability properties, the -B
// parameters that stand for Pacemaker's resource meta-attributes
// (docs/ha.md, "Instance HA properties").
type InstanceHA struct {
	// HAPriority orders the failovers of a fenced node's instances:
	// highest first (then by name); when the survivors cannot hold them
	// all, the higher ones get the memory first (Pacemaker's priority).
	// Default 0.
	HAPriority int `json:"ha_priority,omitempty"`
	// MigrationThreshold: a node where the instance failed (a start or a
	// failover) this many times is not chosen as its target until the
	// counts are cleaned up (instance cleanup). 0 is off (Pacemaker's
	// migration-threshold).
	MigrationThreshold int `json:"migration_threshold,omitempty"`
	// Failback: once the instance is redundant again after a failover,
	// live-migrate it back to its preferred node (the best Location score
	// among its DRBD nodes, else the node it was failed over from). Off by
	// default: it stays where it is until an operator moves it (Pacemaker's
	// resource-stickiness=INFINITY; on is stickiness 0).
	Failback bool `json:"failback,omitempty"`
	// Location are scores per node (Pacemaker's location constraints):
	// the higher the more preferred, LocationNever (-INFINITY) never. The
	// failover target choice and failback use them.
	Location map[string]int `json:"location,omitempty"`
}

// Location scores: LocationInfinity is Pacemaker's INFINITY; a node scored
// LocationNever is never the instance's primary.
const (
	LocationInfinity = 1000000
	LocationNever    = -LocationInfinity
	MaxLocations     = 32
)

// InstanceHAModify are the HA properties an instance modify changes (nil:
// unchanged).
type InstanceHAModify struct {
	HAPriority         *int  `json:"ha_priority,omitempty"`
	MigrationThreshold *int  `json:"migration_threshold,omitempty"`
	Failback           *bool `json:"failback,omitempty"`
	// Location replaces the scores ({} clears them).
	Location *map[string]int `json:"location,omitempty"`
}

// empty reports whether nothing is to change.
func (h InstanceHAModify) empty() bool {
	return h.HAPriority == nil && h.MigrationThreshold == nil && h.Failback == nil && h.Location == nil
}

// Apply sets what h changes in ha.
func (h InstanceHAModify) Apply(ha *InstanceHA) {
	if h.HAPriority != nil {
		ha.HAPriority = *h.HAPriority
	}
	if h.MigrationThreshold != nil {
		ha.MigrationThreshold = *h.MigrationThreshold
	}
	if h.Failback != nil {
		ha.Failback = *h.Failback
	}
	if h.Location != nil {
		ha.Location = nil
		if len(*h.Location) > 0 {
			ha.Location = maps.Clone(*h.Location)
		}
	}
}

// validate checks the ranges.
func (h InstanceHA) validate() error {
	if h.HAPriority < -MaxHAPriority || h.HAPriority > MaxHAPriority {
		return Errorf(CodeWrongInput, "ha_priority %d not in %d..%d", h.HAPriority, -MaxHAPriority, MaxHAPriority)
	}
	if h.MigrationThreshold < 0 || h.MigrationThreshold > MaxMigrationThreshold {
		return Errorf(CodeWrongInput, "migration_threshold %d not in 0..%d (0: off)", h.MigrationThreshold, MaxMigrationThreshold)
	}
	if len(h.Location) > MaxLocations {
		return Errorf(CodeWrongInput, "location: at most %d nodes", MaxLocations)
	}
	for n, score := range h.Location {
		if err := ValidHostname(n); err != nil {
			return Errorf(CodeWrongInput, "location: node %s: %s", quoteShort(n), AsError(err).Message)
		}
		if score < LocationNever || score > LocationInfinity {
			return Errorf(CodeWrongInput, "location: score %d of %s not in %d..%d", score, n, LocationNever, LocationInfinity)
		}
	}
	return nil
}

// validate checks the values that are set.
func (h InstanceHAModify) validate() error {
	var ha InstanceHA
	h.Apply(&ha)
	return ha.validate()
}

// InstanceFailCount is how often an instance failed on one node since its
// last cleanup (Pacemaker's fail-count).
type InstanceFailCount struct {
	Node string `json:"node"`
	// Count is the failed starts and failovers there.
	Count int `json:"count"`
	// Last is the last failure: when and what.
	LastAt    time.Time `json:"last_at"`
	LastError string    `json:"last_error,omitempty"`
}

// InstanceHAEvent is one thing the HA controllers did or could not do for an
// instance (failover_no_fit, failover_banned, start_failed, cleanup, ...).
type InstanceHAEvent struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Node    string    `json:"node,omitempty"`
	Message string    `json:"message"`
}

// InstanceHAState is what the leader recorded about an instance's
// failures and failovers (GET /instances/{name} only).
type InstanceHAState struct {
	// FailCounts per node, by node name.
	FailCounts []InstanceFailCount `json:"fail_counts,omitempty"`
	// Events are the last few, oldest first.
	Events []InstanceHAEvent `json:"events,omitempty"`
	// FailedOverFrom is the node the failover controller last moved the
	// instance away from (cleared by a failback, or once the instance
	// runs there again); failback=on without Location moves it back there.
	FailedOverFrom string `json:"failed_over_from,omitempty"`
}

// CleanupOptions is the body of POST /instances/{name}/cleanup.
type CleanupOptions struct {
	// Node clears only that node's count; empty clears every node's.
	Node string `json:"node,omitempty"`
}

// InstanceCleanup is the params of instance.cleanup.
type InstanceCleanup struct {
	Name string `json:"name"`
	CleanupOptions
}

// Validate checks the names.
func (c InstanceCleanup) Validate() error {
	if err := validInstanceName(c.Name); err != nil {
		return err
	}
	if c.Node != "" {
		if err := ValidHostname(c.Node); err != nil {
			return Errorf(CodeWrongInput, "node: %s", AsError(err).Message)
		}
	}
	return nil
}
