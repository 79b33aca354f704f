package api

import (
	"context"
	"time"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	// User is the token's subject.
	User string
	// Role is read, operate, admin or node.
	Role string
	// TokenID is the token's jti.
	TokenID string
}

// Backend is what the HTTP server needs from a master. The master implements
// it; api tests may use an in-memory implementation with the same behaviour.
// Every method returns *Error values (with a Code) for anything the caller can
// act on; other errors become "internal".
type Backend interface {
	// MasterName is the name of the master serving this API.
	MasterName() string

	// CheckToken is called after a token's signature, algorithm, exp, iss and
	// aud were verified: it refuses revoked tokens and tokens of removed users
	// (CodeUnauthorized).
	CheckToken(ctx context.Context, p Principal) error

	ClusterInfo(ctx context.Context) (*ClusterInfo, error)
	ClusterVerify(ctx context.Context) (*VerifyReport, error)

	ListNodes(ctx context.Context) ([]Node, error)
	GetNode(ctx context.Context, name string) (*Node, error)
	// NodeCredentials (re)issues the join credentials of a node (rotating its
	// etcd password). Admin only; not a job, because it returns a secret.
	NodeCredentials(ctx context.Context, name string) (*NodeCredentials, error)

	// SubmitJob validates the opcodes (wrong_input, unknown_entity,
	// already_exists... for what can be checked before running) and queues a job.
	SubmitJob(ctx context.Context, by Principal, sub JobSubmit) (uint64, error)
	GetJob(ctx context.Context, id uint64) (*Job, error)
	ListJobs(ctx context.Context, f JobFilter) ([]Job, error)
	// CancelJob cancels a queued or waiting job (wrong_state for others).
	CancelJob(ctx context.Context, id uint64) error
	// WaitJob returns when the job's state or log changed from what the caller
	// knows (state and number of log entries), when it is finished, or when
	// timeout passes; it returns the job as it is then.
	WaitJob(ctx context.Context, id uint64, knownState JobState, knownLog int, timeout time.Duration) (*Job, error)

	ListUsers(ctx context.Context) ([]User, error)
	AddUser(ctx context.Context, u UserAdd) (*User, error)
	RemoveUser(ctx context.Context, name string) error
	// IssueToken signs a new token for the user.
	IssueToken(ctx context.Context, user string, ttl time.Duration) (*Token, error)
	ListTokens(ctx context.Context, user string) ([]Token, error)
	RevokeToken(ctx context.Context, id string) error
}
