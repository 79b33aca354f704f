package api_test

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/apitest"
)

// openAPIDoc is the part of docs/openapi.yaml the test checks.
type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, []byte) {
	t.Helper()
	y, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc, j
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}

// TestOpenAPIMatchesRoutes checks that the (method, path) pairs of the
// document are exactly the server's routes, with the same roles.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	b, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	routes := api.Routes(api.NewServer(b, b.Verifier(), nil))
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	served := map[string]string{}
	for _, r := range routes {
		p := strings.TrimPrefix(r.Path, api.APIPrefix)
		p = param.ReplaceAllString(p, "{$1}")
		role := r.Role
		if role == "" {
			role = "none"
		}
		served[r.Method+" "+p] = role
	}
	documented := map[string]string{}
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for m, raw := range ops {
			if !httpMethods[m] {
				continue
			}
			var op struct {
				ID        string                     `json:"operationId"`
				Role      string                     `json:"x-drover-role"`
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", m, path, err)
			}
			key := strings.ToUpper(m) + " " + path
			documented[key] = op.Role
			if op.ID == "" || ids[op.ID] {
				t.Errorf("%s: operationId %q missing or not unique", key, op.ID)
			}
			ids[op.ID] = true
			if op.Role != "none" {
				for _, code := range []string{"401", "403"} {
					if _, ok := op.Responses[code]; !ok {
						t.Errorf("%s needs a token but does not document %s", key, code)
					}
				}
			}
		}
	}
	for k, role := range served {
		d, ok := documented[k]
		switch {
		case !ok:
			t.Errorf("route %s is not in docs/openapi.yaml", k)
		case d != role:
			t.Errorf("route %s: x-drover-role %q, server needs %q", k, d, role)
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			t.Errorf("docs/openapi.yaml has %s, which the server does not serve", k)
		}
	}
}

// TestOpenAPISchemas checks that the documented schemas have the JSON fields
// of the wire types, and that every $ref resolves.
func TestOpenAPISchemas(t *testing.T) {
	doc, raw := loadOpenAPI(t)
	types := map[string]any{
		"Error": api.Error{}, "ErrorBody": api.ErrorBody{}, "Health": api.Health{},
		"MasterInfo": api.MasterInfo{}, "ClusterInfo": api.ClusterInfo{},
		"VerifyFinding": api.VerifyFinding{}, "VerifyReport": api.VerifyReport{},
		"NodeResources": api.NodeResources{}, "NodeAdd": api.NodeAdd{}, "NodeModify": api.NodeModify{},
		"NodeCredentials": api.NodeCredentials{}, "Node": api.Node{},
		"NodeFence": api.NodeFence{}, "NodePower": api.NodePower{}, "FenceResult": api.FenceResult{},
		"OpCode": api.OpCode{}, "JobSubmit": api.JobSubmit{}, "JobAccepted": api.JobAccepted{},
		"OpStatus": api.OpStatus{}, "JobLogEntry": api.JobLogEntry{}, "Job": api.Job{},
		"DebugDelay": api.DebugDelay{}, "UserAdd": api.UserAdd{}, "User": api.User{},
		"TokenRequest": api.TokenRequest{}, "Token": api.Token{},
		"ReplaceDisksOptions": api.ReplaceDisksOptions{}, "RecoverSplitBrainOptions": api.RecoverSplitBrainOptions{},
		"NodeEvacuateOptions": api.NodeEvacuateOptions{}, "ClusterBalance": api.ClusterBalance{},
		"CleanupOptions": api.CleanupOptions{}, "InstanceHAState": api.InstanceHAState{}, "InstanceModify": api.InstanceModify{},
	}
	for name, v := range types {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			continue
		}
		want := jsonFields(reflect.TypeOf(v))
		var got []string
		for p := range s.Properties {
			got = append(got, p)
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has %v, type has %v", name, got, want)
		}
	}
	for _, m := range regexp.MustCompile(`"\$ref":"#/components/(schemas|responses|parameters)/([A-Za-z]+)"`).FindAllStringSubmatch(string(raw), -1) {
		if !strings.Contains(string(raw), `"`+m[2]+`":`) {
			t.Errorf("unresolved $ref %s/%s", m[1], m[2])
		}
		if m[1] == "schemas" {
			if _, ok := doc.Components.Schemas[m[2]]; !ok {
				t.Errorf("unresolved $ref schemas/%s", m[2])
			}
		}
	}
}

// jsonFields lists the JSON names of t's fields, embedded structs flattened.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
