package rapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// submitRecorder is a fake backend that records submitted jobs (the real
// master's mapping of these opcodes is tested in package master).
type submitRecorder struct {
	Backend
	subs []api.JobSubmit
}

func (r *submitRecorder) SubmitJob(_ context.Context, _ api.Principal, sub api.JobSubmit) (uint64, error) {
	r.subs = append(r.subs, sub)
	return 7, nil
}

func callMove(t *testing.T, h func(*Mount) gin.HandlerFunc, name, target string) (*submitRecorder, int, string) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	rec := &submitRecorder{}
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	// "PATH#BODY": the part after # is the request body.
	path, reqBody, _ := strings.Cut(target, "#")
	c.Request = httptest.NewRequest(http.MethodPost, path, strings.NewReader(reqBody))
	c.Params = gin.Params{{Key: "name", Value: name}}
	h(&Mount{b: rec})(c)
	return rec, w.Code, w.Body.String()
}

func TestRAPIMoves(t *testing.T) {
	replace := func(m *Mount) gin.HandlerFunc { return m.replaceDisks }
	evacuate := func(m *Mount) gin.HandlerFunc { return m.evacuateNode }
	migrate := func(m *Mount) gin.HandlerFunc { return m.migrateNode }
	for _, c := range []struct {
		h            func(*Mount) gin.HandlerFunc
		name, target string
		kind, params string
	}{
		{replace, "web1", `/2/instances/web1/replace-disks#{"mode":"replace_new_secondary","remote_node":"node3"}`, api.OpInstanceReplaceDisks,
			`{"name":"web1","mode":"new-secondary","new_secondary":"node3"}`},
		{replace, "web1", `/2/instances/web1/replace-disks?mode=replace_auto`, api.OpInstanceReplaceDisks, `{"name":"web1","mode":"auto"}`},
		{evacuate, "node2", `/2/nodes/node2/evacuate#{"mode":"secondary-only"}`, api.OpNodeEvacuate, `{"name":"node2","mode":"secondary-only"}`},
		{evacuate, "node2", `/2/nodes/node2/evacuate#{"mode":"all","early_release":false}`, api.OpNodeEvacuate, `{"name":"node2","mode":"all"}`},
		{migrate, "node2", `/2/nodes/node2/migrate#{"mode":"live"}`, api.OpNodeMigrate, `{"name":"node2"}`},
	} {
		rec, code, out := callMove(t, c.h, c.name, c.target)
		if code != http.StatusOK || len(rec.subs) != 1 || len(rec.subs[0].Ops) != 1 {
			t.Errorf("%s: %d %s, %d jobs", c.target, code, out, len(rec.subs))
			continue
		}
		op := rec.subs[0].Ops[0]
		var got, want any
		_ = json.Unmarshal(op.Params, &got)
		_ = json.Unmarshal([]byte(c.params), &want)
		if op.Kind != c.kind || !jsonEqual(got, want) {
			t.Errorf("%s: %s %s, want %s %s", c.target, op.Kind, op.Params, c.kind, c.params)
		}
	}
	for _, c := range []struct {
		h            func(*Mount) gin.HandlerFunc
		name, target string
	}{
		{replace, "web1", `/2/instances/web1/replace-disks#{"mode":"replace_everything"}`},
		{replace, "web1", `/2/instances/web1/replace-disks#{"mode":"replace_new_secondary"}`},
		{replace, "web1", `/2/instances/web1/replace-disks#{"mode":"replace_new_secondary","iallocator":"hail"}`},
		{evacuate, "node2", `/2/nodes/node2/evacuate#{"mode":"some"}`},
		{evacuate, "node2", `/2/nodes/node2/evacuate#{"remote_node":"node3"}`},
		{migrate, "node2", `/2/nodes/node2/migrate#{"mode":"non-live"}`},
		{migrate, "node2", `/2/nodes/node2/migrate#{"target_node":"node3"}`},
	} {
		rec, code, out := callMove(t, c.h, c.name, c.target)
		if code != http.StatusBadRequest || len(rec.subs) != 0 {
			t.Errorf("%s: %d %s, %d jobs; want 400 and none", c.target, code, out, len(rec.subs))
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
