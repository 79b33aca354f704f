package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
)

// Kind describes one opcode kind.
type Kind struct {
	// Name is the opcode kind ("node.add").
	Name string
	// Validate checks the parameters at submit; it returns *api.Error values
	// (wrong_input, unknown_entity, already_exists...). It may read etcd.
	Validate func(ctx context.Context, params json.RawMessage) error
	// Locks names the locks the opcode needs ("node/n1", "cluster",
	// Shared("node/n1")), known from its parameters at submit; may be nil.
	Locks func(params json.RawMessage) []string
	// StateLocks, when set, computes more locks from the cluster state when
	// the job is about to start, after its Locks are free (a node evacuation
	// locks the instances on the node; an instance opcode takes its nodes
	// shared). They are stored in the job with the others, so a job resumed
	// by another leader re-takes them. While the job holds them, the state
	// they were computed from cannot change under it, as long as every job
	// that changes it locks what it changes (a move onto a node takes that
	// node's lock). An error fails the job at its start.
	StateLocks func(ctx context.Context, params json.RawMessage) ([]string, error)
	// Steps returns the steps that carry out the opcode. Steps must be
	// idempotent: the step that was running when a leader died runs again.
	Steps func(params json.RawMessage) ([]Step, error)
}

// Step is one checkpointed unit of work of an opcode.
type Step struct {
	// Name appears in the logs.
	Name string
	// Run does the work. Writes to etcd that must happen exactly once go
	// through sc.Then, which commits them atomically with the checkpoint.
	Run func(ctx context.Context, sc *StepContext) error
	// Undo, when set, reverts what Run did; it runs when the job is
	// canceled after this step, for the done steps of the running opcode,
	// last first (each with its own checkpoint, so it must be idempotent
	// too). A step without Undo has nothing to revert.
	Undo func(ctx context.Context, sc *StepContext) error
}

// StepContext is what a step sees and how it contributes to its checkpoint.
type StepContext struct {
	// JobID and Op identify the job and the opcode index.
	JobID uint64
	Op    int
	// Client is the master's etcd client (root).
	Client *clientv3.Client
	// Epoch is the fencing token of the leader that runs the step.
	Epoch int64
	// Log is the master's logger with job_id and op.
	Log *slog.Logger

	cmps   []clientv3.Cmp
	ops    []clientv3.Op
	lines  []api.JobLogEntry
	result json.RawMessage
}

// Logf adds a line to the job's log; it is written with the checkpoint, so a
// step that is re-run after a leader change does not log twice.
func (sc *StepContext) Logf(format string, args ...any) {
	sc.lines = append(sc.lines, api.JobLogEntry{
		Time: time.Now().UTC(), Op: sc.Op, Level: "info", Message: fmt.Sprintf(format, args...),
	})
}

// appendLines moves the step's log lines into j's log, numbered on.
func (sc *StepContext) appendLines(j *api.Job) {
	for _, l := range sc.lines {
		l.Serial = len(j.Log) + 1
		j.Log = append(j.Log, l)
	}
	sc.lines = nil
}

// If adds compares that must hold for the checkpoint to commit.
func (sc *StepContext) If(cmps ...clientv3.Cmp) { sc.cmps = append(sc.cmps, cmps...) }

// Then adds writes that commit atomically with the checkpoint (and the fence).
func (sc *StepContext) Then(ops ...clientv3.Op) { sc.ops = append(sc.ops, ops...) }

// SetResult sets the opcode's result (JSON of v).
func (sc *StepContext) SetResult(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	sc.result = b
	return nil
}

// Registry maps opcode kinds to their Kind.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]Kind{}} }

// Register adds k; the name must be new and Steps set.
func (r *Registry) Register(k Kind) error {
	if k.Name == "" || k.Steps == nil {
		return fmt.Errorf("%w: %q without steps", ErrUnknownKind, k.Name)
	}
	if _, dup := r.kinds[k.Name]; dup {
		return fmt.Errorf("%w: %q registered twice", ErrUnknownKind, k.Name)
	}
	r.kinds[k.Name] = k
	return nil
}

// Lookup returns the Kind named name.
func (r *Registry) Lookup(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Kinds lists the registered kind names, sorted.
func (r *Registry) Kinds() []string {
	var out []string
	for n := range r.kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// locksOf returns the locks of ops known at submit, in the total order.
func (r *Registry) locksOf(ops []api.OpCode) []string {
	var all []string
	for _, op := range ops {
		if k, ok := r.kinds[op.Kind]; ok && k.Locks != nil {
			all = append(all, k.Locks(op.Params)...)
		}
	}
	return SortLocks(all)
}

// stateLocks returns static plus the locks ops compute from the cluster
// state now, in the total order (static itself when no kind computes any).
func (r *Registry) stateLocks(ctx context.Context, ops []api.OpCode, static []string) ([]string, error) {
	all := static
	dynamic := false
	for i, op := range ops {
		k, ok := r.kinds[op.Kind]
		if !ok || k.StateLocks == nil {
			continue
		}
		more, err := k.StateLocks(ctx, op.Params)
		if err != nil {
			return nil, fmt.Errorf("opcode %d (%s): %w", i, op.Kind, err)
		}
		all, dynamic = append(slices.Clip(all), more...), true
	}
	if !dynamic {
		return static, nil
	}
	return SortLocks(all), nil
}
