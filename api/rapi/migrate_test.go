package rapi

import (
	"testing"

	"github.com/drover-project/drover/api"
)

func TestParseMigrate(t *testing.T) {
	for body, want := range map[string]api.InstanceMigrate{
		`{}`:                                    {Name: "web1"},
		`{"mode":"live","target_node":"node2"}`: {Name: "web1", MigrateOptions: api.MigrateOptions{Mode: "live", TargetNode: "node2"}},
		`{"mode":"non-live"}`:                   {Name: "web1", MigrateOptions: api.MigrateOptions{Mode: "hibernate"}},
		`{"cleanup":true,"allow_failover":false}`: {Name: "web1", MigrateOptions: api.MigrateOptions{Cleanup: true}},
	} {
		got, err := parseMigrate("web1", decode(t, body))
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", body, got, err, want)
		}
	}
	for _, bad := range []string{`{"mode":"teleport"}`, `{"allow_failover":true}`, `{"iallocator":"hail"}`,
		`{"cleanup":true,"target_node":"node2"}`, `{"cleanup":"yes"}`, `{"frobnicate":1}`} {
		if _, err := parseMigrate("web1", decode(t, bad)); api.CodeOf(err) != api.CodeWrongInput {
			t.Errorf("%s: %v, want wrong_input", bad, err)
		}
	}
}
