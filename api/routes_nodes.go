package api

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// listNodes answers GET /nodes. Query parameters:
//   - fields=name,status,... keeps only these fields (JSON names of Node);
//   - any other Node field with a scalar value (name, status, group, drained,
//     offline, master_capable, vm_capable, hypervisor, ...) filters on it, a
//     comma-separated list meaning any of; tags=x keeps nodes tagged x.
func (s *server) listNodes(c *gin.Context) {
	q := c.Request.URL.Query()
	var fields []string
	filters := map[string][]string{}
	for key, vals := range q {
		if key == "fields" {
			for _, v := range vals {
				for _, f := range strings.Split(v, ",") {
					if f = strings.TrimSpace(f); f == "" {
						continue
					}
					if _, ok := nodeFields()[f]; !ok {
						s.fail(c, Errorf(CodeWrongInput, "unknown node field %s (known: %s)", quoteShort(f), strings.Join(NodeFieldNames(), ",")))
						return
					}
					fields = append(fields, f)
				}
			}
			continue
		}
		nf, ok := nodeFields()[key]
		if !ok || nf.kind == fieldOther {
			s.fail(c, Errorf(CodeWrongInput, "cannot filter nodes on %s", quoteShort(key)))
			return
		}
		for _, v := range vals {
			filters[key] = append(filters[key], strings.Split(v, ",")...)
		}
	}
	nodes, err := s.b.ListNodes(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	out := []Node{}
	var kept []map[string]any
	for i := range nodes {
		n := reflect.ValueOf(&nodes[i]).Elem()
		if !matchNode(n, filters) {
			continue
		}
		if len(fields) == 0 {
			out = append(out, nodes[i])
			continue
		}
		sel := make(map[string]any, len(fields))
		for _, f := range fields {
			sel[f] = n.FieldByIndex(nodeFields()[f].index).Interface()
		}
		kept = append(kept, sel)
	}
	if len(fields) == 0 {
		s.ok(c, http.StatusOK, out)
		return
	}
	if kept == nil {
		kept = []map[string]any{}
	}
	s.ok(c, http.StatusOK, kept)
}

// getNode answers GET /nodes/{name}.
func (s *server) getNode(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("node name: %w", err))
		return
	}
	n, err := s.b.GetNode(c.Request.Context(), name)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, n)
}

// addNode answers POST /nodes with a node.add job.
func (s *server) addNode(c *gin.Context) {
	var req NodeAdd
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	if err := req.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	s.submit(c, JobSubmit{Ops: []OpCode{MustOp(OpNodeAdd, req)}})
}

// modifyNode answers PATCH /nodes/{name} with a node.modify job.
func (s *server) modifyNode(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("node name: %w", err))
		return
	}
	var req NodeModify
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	op := NodeModifyOp{Name: name, NodeModify: req}
	if err := op.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	s.submit(c, JobSubmit{Ops: []OpCode{MustOp(OpNodeModify, op)}})
}

// removeNode answers DELETE /nodes/{name} with a node.remove job.
func (s *server) removeNode(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("node name: %w", err))
		return
	}
	s.submit(c, JobSubmit{Ops: []OpCode{MustOp(OpNodeRemove, NodeRemove{Name: name})}})
}

// nodeCredentials answers POST /nodes/{name}/credentials (200, not a job:
// the answer holds a secret).
func (s *server) nodeCredentials(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("node name: %w", err))
		return
	}
	if err := s.bindOptional(c, &struct{}{}); err != nil {
		s.failBind(c, err)
		return
	}
	cr, err := s.b.NodeCredentials(c.Request.Context(), name)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, cr)
}

// submit queues sub for the caller and answers 202.
func (s *server) submit(c *gin.Context, sub JobSubmit) {
	p, _ := principalOf(c)
	id, err := s.b.SubmitJob(c.Request.Context(), p, sub)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.accepted(c, id)
}

type fieldKind int

const (
	fieldScalar fieldKind = iota // string, bool, number: filterable
	fieldTags                    // []string: filter by membership
	fieldOther                   // selectable only
)

// nodeField is a field of Node found by its JSON name.
type nodeField struct {
	index []int
	kind  fieldKind
}

var (
	nodeFieldsOnce sync.Once
	nodeFieldsMap  map[string]nodeField
	nodeFieldList  []string
)

// nodeFields maps the JSON names of Node's fields to the fields.
func nodeFields() map[string]nodeField {
	nodeFieldsOnce.Do(func() {
		nodeFieldsMap = map[string]nodeField{}
		t := reflect.TypeFor[Node]()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			k := fieldOther
			switch f.Type.Kind() {
			case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
				k = fieldScalar
			case reflect.Slice:
				if f.Type.Elem().Kind() == reflect.String {
					k = fieldTags
				}
			}
			nodeFieldsMap[name] = nodeField{index: f.Index, kind: k}
			nodeFieldList = append(nodeFieldList, name)
		}
	})
	return nodeFieldsMap
}

// NodeFieldNames lists the fields that GET /nodes?fields= accepts, in the
// order of the Node type.
func NodeFieldNames() []string {
	nodeFields()
	return slices.Clone(nodeFieldList)
}

// matchNode reports whether node n (a reflect.Value of a Node) passes every
// filter.
func matchNode(n reflect.Value, filters map[string][]string) bool {
	for key, want := range filters {
		f := nodeFields()[key]
		v := n.FieldByIndex(f.index)
		if f.kind == fieldTags {
			tags, _ := v.Interface().([]string)
			if !slices.ContainsFunc(want, func(w string) bool { return slices.Contains(tags, w) }) {
				return false
			}
			continue
		}
		var got string
		switch v.Kind() {
		case reflect.String:
			got = v.String()
		case reflect.Bool:
			got = strconv.FormatBool(v.Bool())
		case reflect.Int, reflect.Int64:
			got = strconv.FormatInt(v.Int(), 10)
		}
		if !slices.Contains(want, got) {
			return false
		}
	}
	return true
}
