package api

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// instanceRoutes are the routes under /instances.
func (s *server) instanceRoutes() []route {
	return []route{
		{http.MethodGet, "/instances", RoleRead, s.listInstances},
		{http.MethodPost, "/instances", RoleOperate, s.addInstance},
		{http.MethodPost, "/instances/batch-create", RoleOperate, s.batchCreate},
		{http.MethodGet, "/instances/:name", RoleRead, s.getInstance},
		{http.MethodPatch, "/instances/:name", RoleOperate, s.modifyInstance},
		{http.MethodDelete, "/instances/:name", RoleOperate, s.removeInstance},
		{http.MethodPost, "/instances/:name/startup", RoleOperate, s.instanceSimple(OpInstanceStartup)},
		{http.MethodPost, "/instances/:name/shutdown", RoleOperate, s.shutdownInstance},
		{http.MethodPost, "/instances/:name/reboot", RoleOperate, s.instanceSimple(OpInstanceReboot)},
		{http.MethodPost, "/instances/:name/reinstall", RoleOperate, s.reinstallInstance},
		{http.MethodPost, "/instances/:name/rename", RoleOperate, s.renameInstance},
		{http.MethodPost, "/instances/:name/grow-disk", RoleOperate, s.growDisk},
		{http.MethodPost, "/instances/:name/migrate", RoleOperate, s.migrateInstance},
		{http.MethodGet, "/instances/:name/console", RoleOperate, s.instanceConsole},
		{http.MethodPost, "/instances/:name/failover", RoleOperate, s.failoverInstance},
		{http.MethodPost, "/instances/:name/cleanup", RoleOperate, s.cleanupInstance},
		{http.MethodPost, "/instances/:name/activate-disks", RoleOperate, s.instanceSimple(OpInstanceActivateDisks)},
		{http.MethodPost, "/instances/:name/deactivate-disks", RoleOperate, s.instanceSimple(OpInstanceDeactivateDisks)},
	}
}

// instanceBackend returns the backend's InstanceBackend, or answers as for
// an unknown route (404 unknown_entity) and returns nil.
func (s *server) instanceBackend(c *gin.Context) InstanceBackend {
	ib, ok := s.b.(InstanceBackend)
	if !ok {
		s.fail(c, Errorf(CodeUnknownEntity, "no route %s %s (this backend serves no instances or templates)", c.Request.Method, quoteShort(c.Request.URL.Path)))
		return nil
	}
	return ib
}

// instanceName reads and checks the :name parameter (answering on error).
func (s *server) instanceName(c *gin.Context) (string, bool) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("instance name: %w", err))
		return "", false
	}
	return name, true
}

func (s *server) getInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	ib := s.instanceBackend(c)
	if ib == nil {
		return
	}
	in, err := ib.GetInstance(c.Request.Context(), name)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, in)
}

// validated is a parameter type that checks itself.
type validated interface{ Validate() error }

// submitOp validates op and submits it as a one-opcode job.
func (s *server) submitOp(c *gin.Context, kind string, op validated) {
	if s.instanceBackend(c) == nil {
		return
	}
	if err := op.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	s.submit(c, JobSubmit{Ops: []OpCode{MustOp(kind, op)}})
}

func (s *server) addInstance(c *gin.Context) {
	var req InstanceAdd
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceAdd, req)
}

func (s *server) batchCreate(c *gin.Context) {
	var req InstanceBatchCreate
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceBatchCreate, req)
}

func (s *server) removeInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	s.submitOp(c, OpInstanceRemove, InstanceName{Name: name})
}

// instanceSimple answers POST /instances/{name}/<verb> without options.
func (s *server) instanceSimple(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		name, ok := s.instanceName(c)
		if !ok {
			return
		}
		if err := s.bindOptional(c, &struct{}{}); err != nil {
			s.failBind(c, err)
			return
		}
		switch kind {
		case OpInstanceStartup:
			s.submitOp(c, kind, InstanceStartup{Name: name})
			return
		case OpInstanceActivateDisks:
			s.submitOp(c, kind, InstanceActivateDisks{Name: name})
			return
		}
		s.submitOp(c, kind, InstanceName{Name: name})
	}
}

func (s *server) shutdownInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o ShutdownOptions
	if err := s.bindOptional(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceShutdown, InstanceShutdown{Name: name, ShutdownOptions: o})
}

func (s *server) reinstallInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o ReinstallOptions
	if err := s.bindOptional(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceReinstall, InstanceReinstall{Name: name, ReinstallOptions: o})
}

func (s *server) renameInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o RenameOptions
	if err := s.bind(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceRename, InstanceRename{Name: name, RenameOptions: o})
}

func (s *server) growDisk(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o GrowDiskOptions
	if err := s.bind(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceGrowDisk, InstanceGrowDisk{Name: name, GrowDiskOptions: o})
}

func (s *server) modifyInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var m InstanceModify
	if err := s.bind(c, &m); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceModify, InstanceModifyOp{Name: name, InstanceModify: m})
}

// instanceConsole answers GET /instances/{name}/console?bytes=N. It needs
// operate: a console log may show secrets typed at the guest.
func (s *server) instanceConsole(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	n := DefaultConsoleBytes
	if v := c.Query("bytes"); v != "" {
		b, err := strconv.Atoi(v)
		if err != nil || b < 1 || b > MaxConsoleBytes {
			s.fail(c, Errorf(CodeWrongInput, "bytes %s not in 1..%d", quoteShort(v), MaxConsoleBytes))
			return
		}
		n = b
	}
	ib := s.instanceBackend(c)
	if ib == nil {
		return
	}
	out, err := ib.InstanceConsole(c.Request.Context(), name, n)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, out)
}

// structFields maps the JSON names of a struct's fields to the fields.
type structFields struct {
	byName map[string]nodeField
	names  []string
}

var (
	instanceFieldsOnce sync.Once
	instanceFieldsVal  structFields
)

func fieldsOf(t reflect.Type) structFields {
	sf := structFields{byName: map[string]nodeField{}}
	for _, f := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue // embedded structs: their fields are visible ones
		}
		k := fieldOther
		switch f.Type.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
			k = fieldScalar
		}
		sf.byName[name] = nodeField{index: f.Index, kind: k}
		sf.names = append(sf.names, name)
	}
	return sf
}

func instanceFields() structFields {
	instanceFieldsOnce.Do(func() { instanceFieldsVal = fieldsOf(reflect.TypeFor[Instance]()) })
	return instanceFieldsVal
}

// InstanceFieldNames lists the fields that GET /instances?fields= accepts.
func InstanceFieldNames() []string { return slices.Clone(instanceFields().names) }

// parseSelection reads fields= and the filters of a list request.
func parseSelection(c *gin.Context, sf structFields) ([]string, map[string][]string, error) {
	return parseSelectionOf(c.Request.URL.Query(), sf)
}

// parseSelectionOf is parseSelection of query parameters q.
func parseSelectionOf(q url.Values, sf structFields) ([]string, map[string][]string, error) {
	var fields []string
	filters := map[string][]string{}
	for key, vals := range q {
		if key == "fields" {
			for _, v := range vals {
				for _, f := range strings.Split(v, ",") {
					if f = strings.TrimSpace(f); f == "" {
						continue
					}
					if _, ok := sf.byName[f]; !ok {
						return nil, nil, Errorf(CodeWrongInput, "unknown field %s (known: %s)", quoteShort(f), strings.Join(sf.names, ","))
					}
					fields = append(fields, f)
				}
			}
			continue
		}
		nf, ok := sf.byName[key]
		if !ok || nf.kind != fieldScalar {
			return nil, nil, Errorf(CodeWrongInput, "cannot filter on %s", quoteShort(key))
		}
		for _, v := range vals {
			filters[key] = append(filters[key], strings.Split(v, ",")...)
		}
	}
	return fields, filters, nil
}

// matchFields reports whether v passes every (scalar) filter.
func matchFields(v reflect.Value, sf structFields, filters map[string][]string) bool {
	return compileFilters(sf, filters).match(v)
}
