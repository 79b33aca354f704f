package api

import (
	"context"
	"io"
)

// InstanceBackend is what the instance and template routes need beyond
// Backend. It is optional: the server finds it by type assertion, and answers
// those routes with unavailable when the backend does not implement it (so
// that in-memory test backends keep compiling).
type InstanceBackend interface {
	ListInstances(ctx context.Context) ([]Instance, error)
	GetInstance(ctx context.Context, name string) (*Instance, error)
	// InstanceConsole returns the last maxBytes of the instance's serial
	// console log, read by the primary node's agent.
	InstanceConsole(ctx context.Context, name string, maxBytes int) (*InstanceConsole, error)

	ListTemplates(ctx context.Context) ([]Template, error)
	// GetTemplate returns "name" (latest version) or "name@version".
	GetTemplate(ctx context.Context, ref string) (*Template, error)
	// ImportTemplate stores the tarball read from r as a new version of name
	// (synchronously: the body is the artifact).
	ImportTemplate(ctx context.Context, by Principal, name string, r io.Reader) (*Template, error)
	// OpenTemplateBlob opens the artifact with this digest ("sha256:<hex>")
	// in this master's store, with its size.
	OpenTemplateBlob(ctx context.Context, digest string) (io.ReadCloser, int64, error)

	// CheckNodeToken is CheckToken for tokens of role node (issued with a
	// node's credentials): not revoked, and the node still exists.
	CheckNodeToken(ctx context.Context, p Principal) error
}
