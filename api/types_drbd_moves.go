package api

// Opcodes that move DRBD disks and instances between nodes: replace-disks,
// split-brain recovery, verify-disks, node evacuate/migrate/failover and
// cluster balance (docs/drbd.md, docs/cli.md).
const (
	OpInstanceReplaceDisks      = "instance.replace-disks"       // InstanceReplaceDisks
	OpInstanceRecoverSplitBrain = "instance.recover-split-brain" // InstanceRecoverSplitBrain
	OpClusterVerifyDisks        = "cluster.verify-disks"         // ClusterVerifyDisks
	OpNodeEvacuate              = "node.evacuate"                // NodeEvacuate
	OpNodeMigrate               = "node.migrate"                 // NodeMigrate (node.migrate and node.failover)
	OpNodeFailover              = "node.failover"                // NodeMigrate
	OpClusterBalance            = "cluster.balance"              // ClusterBalance
)

// Replace-disks modes (Ganeti's -p, -s, -n, -a).
const (
	ReplaceOnPrimary    = "primary"       // recreate the primary's disks (instance stopped), resync from the secondary
	ReplaceOnSecondary  = "secondary"     // recreate the secondary's disks, resync from the primary
	ReplaceNewSecondary = "new-secondary" // move the secondary to NewSecondary
	ReplaceAuto         = "auto"          // recreate what is faulty, nothing when all is healthy
)

// ReplaceDisksOptions is the body of POST /instances/{name}/replace-disks.
type ReplaceDisksOptions struct {
	Mode string `json:"mode"`
	// NewSecondary is the node of mode new-secondary.
	NewSecondary string `json:"new_secondary,omitempty"`
}

// InstanceReplaceDisks is the params of instance.replace-disks.
type InstanceReplaceDisks struct {
	Name string `json:"name"`
	ReplaceDisksOptions
}

// Validate checks the mode and the node.
func (p InstanceReplaceDisks) Validate() error {
	if err := ValidHostname(p.Name); err != nil {
		return err
	}
	switch p.Mode {
	case ReplaceNewSecondary:
		if err := ValidHostname(p.NewSecondary); err != nil {
			return Errorf(CodeWrongInput, "new secondary: %v", AsError(err).Message)
		}
		return nil
	case ReplaceOnPrimary, ReplaceOnSecondary, ReplaceAuto:
		if p.NewSecondary != "" {
			return Errorf(CodeWrongInput, "new_secondary goes with mode new-secondary only")
		}
		return nil
	}
	return Errorf(CodeWrongInput, "mode %s: must be primary, secondary, new-secondary or auto", quoteShort(p.Mode))
}

// RecoverSplitBrainOptions is the body of POST
// /instances/{name}/recover-split-brain.
type RecoverSplitBrainOptions struct {
	// Discard is the node whose changes since the split are thrown away
	// (the victim); it resyncs from the other.
	Discard string `json:"discard"`
}

// InstanceRecoverSplitBrain is the params of instance.recover-split-brain.
type InstanceRecoverSplitBrain struct {
	Name string `json:"name"`
	RecoverSplitBrainOptions
}

// Validate checks the names.
func (p InstanceRecoverSplitBrain) Validate() error {
	if err := ValidHostname(p.Name); err != nil {
		return err
	}
	if err := ValidHostname(p.Discard); err != nil {
		return Errorf(CodeWrongInput, "discard: %v", AsError(err).Message)
	}
	return nil
}

// ClusterVerifyDisks is the params of cluster.verify-disks.
type ClusterVerifyDisks struct{}

// Validate implements the opcode params contract (nothing to check).
func (ClusterVerifyDisks) Validate() error { return nil }

// VerifyDisksResult is the result of cluster.verify-disks.
type VerifyDisksResult struct {
	// Healthy counts the mirrored disks found connected and UpToDate on
	// every node.
	Healthy int `json:"healthy"`
	// Reconnected are the disks verify-disks brought up or reconnected
	// (disk.adjust on the node).
	Reconnected []DiskProblem `json:"reconnected,omitempty"`
	// Syncing are disks whose resync runs.
	Syncing []DiskProblem `json:"syncing,omitempty"`
	// Problems are what it could not fix; split brains among them.
	Problems []DiskProblem `json:"problems,omitempty"`
}

// DiskProblem is one disk of an instance on one node.
type DiskProblem struct {
	Instance string `json:"instance"`
	Disk     int    `json:"disk"`
	Node     string `json:"node"`
	Resource string `json:"resource"`
	// What is found ("StandAlone", "split brain", "node unreachable"...).
	What string `json:"what"`
	// Remedy is the command that resolves it, when one is known.
	Remedy string `json:"remedy,omitempty"`
}

// Evacuation modes.
const (
	EvacuateAll           = "all"
	EvacuatePrimaryOnly   = "primary-only"
	EvacuateSecondaryOnly = "secondary-only"
)

// NodeEvacuateOptions is the body of POST /nodes/{name}/evacuate.
type NodeEvacuateOptions struct {
	// Mode: all (default), primary-only, secondary-only.
	Mode string `json:"mode,omitempty"`
}

// NodeEvacuate is the params of node.evacuate.
type NodeEvacuate struct {
	Name string `json:"name"`
	NodeEvacuateOptions
}

// Validate checks the name and mode.
func (p NodeEvacuate) Validate() error {
	if err := ValidHostname(p.Name); err != nil {
		return err
	}
	switch p.Mode {
	case "", EvacuateAll, EvacuatePrimaryOnly, EvacuateSecondaryOnly:
		return nil
	}
	return Errorf(CodeWrongInput, "mode %s: must be all, primary-only or secondary-only", quoteShort(p.Mode))
}

// NodeMigrate is the params of node.migrate and node.failover: every
// primary instance of the node moves to its secondary.
type NodeMigrate struct {
	Name string `json:"name"`
}

// Validate checks the name.
func (p NodeMigrate) Validate() error { return ValidHostname(p.Name) }

// ClusterBalance is the params (and body of POST /cluster/balance) of
// cluster.balance.
type ClusterBalance struct {
	// DryRun plans and reports the moves, moving nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// MaxMoves caps the plan (0: no cap).
	MaxMoves int `json:"max_moves,omitempty"`
}

// Validate checks the cap.
func (p ClusterBalance) Validate() error {
	if p.MaxMoves < 0 || p.MaxMoves > 1000 {
		return Errorf(CodeWrongInput, "max_moves must be 0 to 1000")
	}
	return nil
}

// MoveReport is one move of an evacuation or balance plan and its outcome.
type MoveReport struct {
	Instance string `json:"instance"`
	// Kind is the allocator's ("f", "r", "f r", ...); Short as hbal prints it.
	Kind      string `json:"kind"`
	Short     string `json:"short"`
	Primary   string `json:"primary"`
	Secondary string `json:"secondary,omitempty"`
	Note      string `json:"note,omitempty"`
	// Done is set once the move was carried out; Seconds is how long it took.
	Done    bool    `json:"done"`
	Seconds float64 `json:"seconds,omitempty"`
}

// MovesResult is the result of node.evacuate and cluster.balance.
type MovesResult struct {
	Moves []MoveReport `json:"moves"`
	// Unmovable lists instances left where they are, with why.
	Unmovable []string `json:"unmovable,omitempty"`
	// InitialScore and FinalScore are the allocator's cluster scores.
	InitialScore float64 `json:"initial_score"`
	FinalScore   float64 `json:"final_score"`
}
