package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"
)

// listInstances answers GET /instances; fields= and filters work as for
// GET /nodes (any scalar field of Instance, comma-separated values meaning
// any of), and limit=, continue=, name_prefix=, node= and tag= select a page
// (docs/api.md, "Pages and filters"). The answer is the concatenation of
// the instances' encodings (EncodedInstance), the same bytes as encoding
// the page as a whole.
func (s *server) listInstances(c *gin.Context) {
	ib := s.instanceBackend(c)
	if ib == nil {
		return
	}
	q := c.Request.URL.Query()
	for k := range pageParams {
		q.Del(k)
	}
	fields, filters, err := parseSelectionOf(q, instanceFields())
	if err != nil {
		s.fail(c, err)
		return
	}
	pq, err := parsePage(c.Request.URL.Query())
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(filters) > 0 {
		ff := compileFilters(instanceFields(), filters)
		pq.Keep = func(in *Instance) bool { return ff.match(reflect.ValueOf(in).Elem()) }
	}
	page, more, err := s.instancePage(c, ib, pq)
	if err != nil {
		s.fail(c, err)
		return
	}
	bp := listBuffer()
	defer putListBuffer(bp)
	body, err := appendInstanceList((*bp)[:0], page, fields)
	if err != nil {
		s.fail(c, err)
		return
	}
	*bp = body
	if more && len(page) > 0 {
		c.Header(ContinueHeader, EncodeContinue(page[len(page)-1].Instance.Name))
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Length", strconv.Itoa(len(body)))
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// instancePage asks the backend for a page, in the best way it offers.
func (s *server) instancePage(c *gin.Context, ib InstanceBackend, pq InstancePageQuery) ([]*EncodedInstance, bool, error) {
	if ep, ok := ib.(InstanceEncodedPager); ok {
		return ep.ListInstancePageEncoded(c.Request.Context(), pq)
	}
	var page []Instance
	var more bool
	var err error
	if pg, ok := ib.(InstancePager); ok {
		page, more, err = pg.ListInstancePage(c.Request.Context(), pq)
	} else {
		var all []Instance
		if all, err = ib.ListInstances(c.Request.Context()); err == nil {
			page, more = pageOf(all, pq)
		}
	}
	if err != nil {
		return nil, false, err
	}
	out := make([]*EncodedInstance, 0, len(page))
	for _, in := range page {
		e, err := NewEncodedInstance(in)
		if err != nil {
			return nil, false, err
		}
		out = append(out, e)
	}
	return out, more, nil
}

// listBuffers keeps the buffers of list answers for the next request: a
// page of 10,000 instances is about 4 MB, and a new one per request made
// the garbage collector run every few dozen lists (docs/scale.md).
var listBuffers sync.Pool

// maxKeptListBuffer is the largest buffer kept for reuse.
const maxKeptListBuffer = 16 << 20

func listBuffer() *[]byte {
	if bp, ok := listBuffers.Get().(*[]byte); ok {
		return bp
	}
	return new([]byte)
}

// putListBuffer gives a buffer back once its answer is written (the
// handler has returned from writing it: HTTP/1 and HTTP/2 writes have both
// copied or sent it by then).
func putListBuffer(bp *[]byte) {
	if cap(*bp) <= maxKeptListBuffer {
		listBuffers.Put(bp)
	}
}

// encodeInstanceList is the JSON array of page: whole instances, or with
// fields objects of only those fields, keys in order (as a map encodes).
func encodeInstanceList(page []*EncodedInstance, fields []string) ([]byte, error) {
	return appendInstanceList(nil, page, fields)
}

// appendInstanceList appends encodeInstanceList's answer to dst.
func appendInstanceList(dst []byte, page []*EncodedInstance, fields []string) ([]byte, error) {
	if len(fields) == 0 {
		n := 2
		for _, e := range page {
			n += len(e.json) + 1
		}
		out := slices.Grow(dst, n)
		out = append(out, '[')
		for i, e := range page {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, e.json...)
		}
		return append(out, ']'), nil
	}
	type field struct {
		key   []byte // "name":
		slot  int
		index []int
	}
	sf := instanceFields()
	names := slices.Clone(fields)
	slices.Sort(names)
	names = slices.Compact(names)
	sel := make([]field, 0, len(names))
	for _, f := range names {
		k, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		sel = append(sel, field{key: append(k, ':'), slot: slices.Index(sf.names, f), index: sf.byName[f].index})
	}
	out := slices.Grow(dst, 2+len(page)*16*len(sel))
	out = append(out, '[')
	for i, e := range page {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '{')
		for j, f := range sel {
			if j > 0 {
				out = append(out, ',')
			}
			v, err := e.fieldJSON(f.slot, f.index)
			if err != nil {
				return nil, err
			}
			out = append(append(out, f.key...), v...)
		}
		out = append(out, '}')
	}
	return append(out, ']'), nil
}

// fieldFilter is one scalar filter with its field's index, looked up once
// per request rather than once per instance and filter.
type fieldFilter struct {
	index []int
	want  []string
}

type fieldFilters []fieldFilter

// compileFilters looks up the fields of filters (parseSelectionOf's).
func compileFilters(sf structFields, filters map[string][]string) fieldFilters {
	out := make(fieldFilters, 0, len(filters))
	for key, want := range filters {
		out = append(out, fieldFilter{index: sf.byName[key].index, want: want})
	}
	return out
}

// match reports whether v passes every filter.
func (ff fieldFilters) match(v reflect.Value) bool {
	for _, f := range ff {
		fv := v.FieldByIndex(f.index)
		var got string
		switch fv.Kind() {
		case reflect.String:
			got = fv.String()
		case reflect.Bool:
			got = strconv.FormatBool(fv.Bool())
		case reflect.Int, reflect.Int64:
			got = strconv.FormatInt(fv.Int(), 10)
		}
		if !slices.Contains(f.want, got) {
			return false
		}
	}
	return true
}
