package rapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// body decodes the JSON request body into v; an empty body leaves v as it is.
func body(c *gin.Context, v any) error {
	if c.Request.Body == nil {
		return nil
	}
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return wrongInput("request body larger than %d bytes", mbe.Limit)
		}
		return wrongInput("read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return wrongInput("Unable to parse JSON data: %v", err)
	}
	return nil
}

// boolQuery reads a 0/1 query argument (Ganeti's _checkIntVariable).
func boolQuery(c *gin.Context, name string) (bool, error) {
	v, found := c.GetQuery(name)
	if !found || v == "" {
		return false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return false, wrongInput("query argument %s=%q: want an integer", name, v)
	}
	return n != 0, nil
}

// bulk reports whether ?bulk=1 was given.
func bulk(c *gin.Context) (bool, error) { return boolQuery(c, "bulk") }

// refuseDryRun answers dry-run requests: drover validates every job at
// submit, but has no mode that validates without queueing.
func refuseDryRun(c *gin.Context) error {
	dry, err := boolQuery(c, "dry-run")
	if err != nil {
		return err
	}
	if dry {
		return wrongInput("dry-run is not supported by drover")
	}
	return nil
}

// submit queues a job of ops and answers its id as a bare JSON integer.
func (h *Mount) submit(c *gin.Context, ops ...api.OpCode) {
	if err := refuseDryRun(c); err != nil {
		h.fail(c, err)
		return
	}
	id, err := h.b.SubmitJob(c.Request.Context(), principal(c), api.JobSubmit{Ops: ops})
	if err != nil {
		h.fail(c, err)
		return
	}
	ok(c, id)
}

// op builds an opcode of kind with params v.
func op(kind string, v any) api.OpCode {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // params are drover's own types: always encodable
	}
	return api.OpCode{Kind: kind, Params: b}
}

// number reads a JSON number (from a UseNumber decode) as int64.
func number(v any, what string) (int64, error) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != float64(int64(f)) {
				return 0, wrongInput("%s: want an integer, got %s", what, n)
			}
			return int64(f), nil
		}
		return i, nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, wrongInput("%s: want an integer, got %q", what, n)
		}
		return i, nil
	}
	return 0, wrongInput("%s: want an integer", what)
}
