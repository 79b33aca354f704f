package api

import (
	"context"

	"github.com/gin-gonic/gin"
)

// RAPIBackend is what the Ganeti RAPI compatibility layer (package
// api/rapi) and the password route need beyond Backend and InstanceBackend.
// It is optional: the server finds it by type assertion.
type RAPIBackend interface {
	// CheckPassword checks a user's RAPI password (HTTP Basic) and returns
	// the user as a Principal with the user's role; CodeUnauthorized when
	// the user is unknown, has no password or the password is wrong.
	CheckPassword(ctx context.Context, user, password string) (Principal, error)
	// SetPassword sets (or replaces) a user's RAPI password; it is stored as
	// a slow salted hash, never in clear.
	SetPassword(ctx context.Context, user, password string) error
	// RAPIAnonymousReads reports whether RAPI GETs without credentials are
	// allowed (off unless the operator turns it on).
	RAPIAnonymousReads() bool
	// AllocatorView returns the nodes and the instance policy as the
	// allocator sees them when it places instances.
	AllocatorView(ctx context.Context) (*AllocatorView, error)
	// ClusterTags returns the cluster's tags.
	ClusterTags(ctx context.Context) ([]string, error)
}

// Mount adds routes beside /api/v1 to the server's gin engine (the Ganeti
// RAPI under /2/ is one). NoRoute answers unknown paths and methods that
// belong to the mount and reports whether it did.
type Mount interface {
	Register(e *gin.Engine)
	NoRoute(c *gin.Context) bool
}
