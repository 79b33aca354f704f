package master_test

import (
	"os"
	"slices"
	"testing"

	"github.com/drover-project/drover/api"
)

// names lists the names of a page.
func names(page []api.Instance) []string {
	out := []string{}
	for _, in := range page {
		out = append(out, in.Name)
	}
	return out
}

// TestInstancePages lists instances by pages and filters, through the API
// (the continue header) and the backend, from the state cache: an instance
// is listed as soon as the job that added it has ended.
func TestInstancePages(t *testing.T) {
	e := startInstEnv(t)
	all := []string{"a1", "a2", "b1", "b2", "b3", "c1", "c2"}
	for _, n := range all {
		if j := e.run(t, api.OpInstanceAdd, addReq(n)); j.State != api.JobSuccess {
			t.Fatalf("add %s: %+v", n, j.Error)
		}
		got, _, err := e.m.ListInstancePage(ctx(t), api.InstancePageQuery{NamePrefix: n})
		if err != nil || !slices.Equal(names(got), []string{n}) {
			t.Fatalf("just after its job, list of %s: %v %v", n, names(got), err)
		}
	}
	if j := e.run(t, api.OpTagsModify, api.TagsModify{Kind: api.TagKindInstance, Name: "b2", Add: []string{"web"}}); j.State != api.JobSuccess {
		t.Fatalf("tag: %+v", j.Error)
	}
	if j := e.run(t, api.OpInstanceShutdown, api.InstanceName{Name: "c1"}); j.State != api.JobSuccess {
		t.Fatalf("shutdown: %+v", j.Error)
	}
	tok, _ := e.c.AdminToken()
	ca, err := os.ReadFile(e.c.Dir + "/pki/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := api.NewClient([]string{"https://" + e.m.APIAddr()}, tok, ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("pages", func(t *testing.T) {
		var got []string
		q := api.InstanceQuery{Limit: 3}
		pages := 0
		for {
			page, next, err := cl.ListInstancesPage(ctx(t), q)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page) > 3 {
				t.Fatalf("page of %d with limit 3", len(page))
			}
			got = append(got, names(page)...)
			if next == "" {
				break
			}
			q.Continue = next
		}
		if !slices.Equal(got, all) || pages != 3 {
			t.Errorf("pages of 3: %v in %d pages, want %v in 3", got, pages, all)
		}
		whole, err := cl.ListInstances(ctx(t), api.InstanceQuery{Limit: 2})
		if err != nil || !slices.Equal(names(whole), all) {
			t.Errorf("ListInstances by pages of 2: %v %v", names(whole), err)
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			filter map[string]string
			want   []string
		}{
			{map[string]string{"name_prefix": "b"}, []string{"b1", "b2", "b3"}},
			{map[string]string{"tag": "web"}, []string{"b2"}},
			{map[string]string{"node": "node1", "status": api.InstAdminDown}, []string{"c1"}},
			{map[string]string{"node": "node2"}, []string{}},
			{map[string]string{"name_prefix": "c", "disk_template": "diskless,file"}, []string{"c1", "c2"}},
		} {
			got, err := cl.ListInstances(ctx(t), api.InstanceQuery{Filter: tc.filter})
			if err != nil || !slices.Equal(names(got), tc.want) {
				t.Errorf("filter %v: %v %v, want %v", tc.filter, names(got), err, tc.want)
			}
		}
	})
	t.Run("fields", func(t *testing.T) {
		got, err := cl.ListInstances(ctx(t), api.InstanceQuery{Fields: []string{"name", "status"}, Filter: map[string]string{"name_prefix": "c"}, Limit: 1})
		if err != nil || len(got) != 2 || got[0].Status != api.InstAdminDown || got[1].Status != api.InstRunning || got[0].PrimaryNode != "" {
			t.Errorf("fields name,status of c*: %+v %v", got, err)
		}
	})
	t.Run("after a change", func(t *testing.T) {
		// The answers of the lists above are kept encoded; a change of the
		// record (modify) or of the domain (shutdown) must show in the next.
		memOf := func(fields []string) map[string]int64 {
			got, err := cl.ListInstances(ctx(t), api.InstanceQuery{Fields: fields})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]int64{}
			for _, in := range got {
				out[in.Name] = in.MemoryMiB
			}
			return out
		}
		for _, f := range [][]string{nil, {"name", "memory_mib"}} {
			if got := memOf(f)["b1"]; got != 128 {
				t.Fatalf("fields %v: b1 memory %d before modify, want 128", f, got)
			}
		}
		mem := int64(256)
		if j := e.run(t, api.OpInstanceModify, api.InstanceModifyOp{Name: "b1", InstanceModify: api.InstanceModify{MemoryMiB: &mem}}); j.State != api.JobSuccess {
			t.Fatalf("modify: %+v", j.Error)
		}
		for _, f := range [][]string{nil, {"name", "memory_mib"}} {
			if got := memOf(f); got["b1"] != 256 || got["b2"] != 128 {
				t.Errorf("fields %v: memory b1 %d, b2 %d after modify, want 256, 128", f, got["b1"], got["b2"])
			}
		}
		if j := e.run(t, api.OpInstanceShutdown, api.InstanceName{Name: "c2"}); j.State != api.JobSuccess {
			t.Fatalf("shutdown: %+v", j.Error)
		}
		got, err := cl.ListInstances(ctx(t), api.InstanceQuery{Fields: []string{"name", "status"}, Filter: map[string]string{"status": api.InstAdminDown}})
		if err != nil || !slices.Equal(names(got), []string{"c1", "c2"}) {
			t.Errorf("admin down after shutdown of c2: %v %v, want [c1 c2]", names(got), err)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for _, f := range []map[string]string{{"limit": "0"}, {"limit": "x"}, {"continue": "!!"}, {"node": "a,b"}, {"nope": "1"}} {
			if _, err := cl.ListInstances(ctx(t), api.InstanceQuery{Filter: f}); api.CodeOf(err) != api.CodeWrongInput {
				t.Errorf("filter %v: %v, want wrong_input", f, err)
			}
		}
	})
}
