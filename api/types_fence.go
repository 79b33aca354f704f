package api

import (
	"context"
	"time"
)

// Node states the leader's liveness controller adds to NodeOnline,
// NodeUnreachable and NodeOffline (docs/ha.md): a node whose lease expired
// is unreachable, then suspect, then fencing, then fenced, then offline.
const (
	NodeSuspect = "suspect"
	NodeFencing = "fencing"
	NodeFenced  = "fenced"
)

// FenceResult is the outcome of one fence action (with its retries). It
// never holds a secret parameter: errors and output are scrubbed.
type FenceResult struct {
	Action   string        `json:"action"`
	OK       bool          `json:"ok"`
	Power    string        `json:"power"`
	Attempts int           `json:"attempts"`
	Duration time.Duration `json:"duration_ns"`
	At       time.Time     `json:"at"`
	Error    string        `json:"error,omitempty"`
	Output   string        `json:"output,omitempty"`
}

// NodeFence is a node's fence device: a fence agent of the fence-agents
// family and its parameters (body of PUT /api/v1/nodes/{name}/fence). In
// answers the values of secret parameters (password, passwd, ...) are
// "(hidden)".
type NodeFence struct {
	Agent  string            `json:"agent"`
	Params map[string]string `json:"params,omitempty"`
}

// NodeTransition is one change of a node's state.
type NodeTransition struct {
	State  string    `json:"state"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// NodeHealth is the leader's view of a node's liveness (node info).
type NodeHealth struct {
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// Method is how the node was or will be fenced: stonith, watchdog or
	// "" (neither: an operator must act).
	Method string `json:"method,omitempty"`
	// NeedsOperator is set when drover cannot fence the node by itself
	// (no fence device and no armed watchdog, or fencing failed): nothing
	// is failed over until an operator acts.
	NeedsOperator bool   `json:"needs_operator,omitempty"`
	Reason        string `json:"reason,omitempty"`
	// LastFence is the last fence action on the node.
	LastFence *FenceResult `json:"last_fence,omitempty"`
	// Transitions are the most recent state changes, oldest first.
	Transitions []NodeTransition `json:"transitions,omitempty"`
}

// Power actions of POST /api/v1/nodes/{name}/power (a job: node.power).
const (
	PowerOn     = "on"
	PowerOff    = "off"
	PowerStatus = "status"
)

// OpNodePower runs the node's fence device (params NodePowerOp).
const OpNodePower = "node.power"

// NodePowerOp is the parameter of the node.power opcode.
type NodePowerOp struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

// NodePower is the body of POST /api/v1/nodes/{name}/power.
type NodePower struct {
	Action string `json:"action"`
}

// NodeFenceBackend is implemented by backends that keep fence devices. The
// device is set outside the job queue, because a job's parameters are
// shown by the jobs API and a device's password must not be.
type NodeFenceBackend interface {
	// SetNodeFence sets (nil: removes) the node's fence device.
	SetNodeFence(ctx context.Context, name string, f *NodeFence) error
}
