package api

import (
	"context"
	"net/http"
	"strings"
)

// OpInstanceBatchCreate creates many instances in one job (InstanceBatchCreate).
const OpInstanceBatchCreate = "instance.batch_create"

// MaxBatchInstances is the most instances one instance.batch_create takes
// (its commit is one etcd transaction, and etcd allows 128 operations in
// one); `drover instance batch-create` splits larger files into jobs.
const MaxBatchInstances = 100

// InstanceBatchCreate is the body of POST /instances/batch-create: the
// instances to create in one job, each as for POST /instances. Each
// instance is created whole or not at all; the job's result
// (InstanceBatchResult) names those that were not (its log says why), and
// the job fails only when none was created (docs/cli.md).
type InstanceBatchCreate struct {
	Instances []InstanceAdd `json:"instances"`
}

// Validate checks every instance and that no name comes twice (compared
// without regard to case).
func (b InstanceBatchCreate) Validate() error {
	if len(b.Instances) == 0 || len(b.Instances) > MaxBatchInstances {
		return Errorf(CodeWrongInput, "a batch holds 1 to %d instances, not %d", MaxBatchInstances, len(b.Instances))
	}
	seen := map[string]bool{}
	for i, a := range b.Instances {
		if err := a.Validate(); err != nil {
			return Errorf(CodeOf(err), "instance %d (%s): %s", i, quoteShort(a.Name), AsError(err).Message)
		}
		if k := strings.ToLower(a.Name); seen[k] {
			return Errorf(CodeWrongInput, "instance %s comes twice in the batch", quoteShort(a.Name))
		} else {
			seen[k] = true
		}
	}
	return nil
}

// InstanceBatchResult is the result of instance.batch_create: the names
// created and those that were not.
type InstanceBatchResult struct {
	Created []string `json:"created"`
	Failed  []string `json:"failed,omitempty"`
}

// BatchCreateInstances calls POST /instances/batch-create (job
// instance.batch_create).
func (c *Client) BatchCreateInstances(ctx context.Context, b InstanceBatchCreate) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/instances/batch-create", b)
}
