package api_test

import (
	"net/http"
	"testing"

	"github.com/drover-project/drover/api"
)

func TestMigrateRoute(t *testing.T) {
	f, ib := newInstFixture(t)
	for _, tc := range []struct {
		body  string
		check func(map[string]any) bool
	}{
		{"", func(p map[string]any) bool {
			return p["name"] == "web1" && p["target_node"] == nil && p["cleanup"] == nil
		}},
		{`{"target_node":"node2","mode":"hibernate"}`, func(p map[string]any) bool { return p["target_node"] == "node2" && p["mode"] == "hibernate" }},
		{`{"cleanup":true}`, func(p map[string]any) bool { return p["cleanup"] == true }},
		{`{"bandwidth_mib":4}`, func(p map[string]any) bool { return p["bandwidth_mib"] == 4.0 }},
	} {
		rec := f.doString("POST", "/api/v1/instances/web1/migrate", f.operate, tc.body)
		if rec.Code != http.StatusAccepted {
			t.Errorf("migrate %s: %d %s", tc.body, rec.Code, rec.Body)
			continue
		}
		if kind, p := ib.lastOp(t); kind != api.OpInstanceMigrate || !tc.check(p) {
			t.Errorf("migrate %s: submitted %s %v", tc.body, kind, p)
		}
	}
	n := ib.nsubs()
	for _, body := range []string{`{"mode":"teleport"}`, `{"cleanup":true,"target_node":"node2"}`, `{"target_node":"No Node"}`,
		`{"bandwidth_mib":99999999}`, `{"target":"node2"}`} {
		rec := f.doString("POST", "/api/v1/instances/web1/migrate", f.operate, body)
		if rec.Code != http.StatusBadRequest || errorOf(t, rec).Code != api.CodeWrongInput {
			t.Errorf("migrate %s: %d %s, want 400 wrong_input", body, rec.Code, rec.Body)
		}
	}
	if rec := f.doString("POST", "/api/v1/instances/web1/migrate", f.reader, ""); rec.Code != http.StatusForbidden {
		t.Errorf("migrate as reader: %d", rec.Code)
	}
	if ib.nsubs() != n {
		t.Error("refused requests submitted jobs")
	}
}
