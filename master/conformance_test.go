package master_test

import (
	"testing"

	"github.com/drover-project/drover/api/apitest"
	"github.com/drover-project/drover/master/mastertest"
)

// TestBackendConformance runs the api package's Backend behaviour suite (the
// one the in-memory backend passes) against a real master on embedded etcd.
func TestBackendConformance(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[c.WaitLeader(30e9)].M
	apitest.Conformance(t, m, m.Verifier())
}
