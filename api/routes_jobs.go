package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// MaxJobListLimit caps GET /jobs?limit=.
const MaxJobListLimit = 100000

// listJobs answers GET /jobs?state=a,b&archived=1&limit=N.
func (s *server) listJobs(c *gin.Context) {
	f, err := parseJobFilter(c.Request.URL.Query())
	if err != nil {
		s.fail(c, err)
		return
	}
	jobs, err := s.b.ListJobs(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if jobs == nil {
		jobs = []Job{}
	}
	s.ok(c, http.StatusOK, jobs)
}

func parseJobFilter(q map[string][]string) (JobFilter, error) {
	var f JobFilter
	for key, vals := range q {
		v := strings.Join(vals, ",")
		switch key {
		case "state":
			for _, st := range strings.Split(v, ",") {
				st = strings.TrimSpace(st)
				if st == "" {
					continue
				}
				js, err := parseJobState(st)
				if err != nil {
					return f, err
				}
				f.States = append(f.States, js)
			}
		case "archived":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, Errorf(CodeWrongInput, "archived %s: want 1, 0, true or false", quoteShort(v))
			}
			f.Archived = b
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > MaxJobListLimit {
				return f, Errorf(CodeWrongInput, "limit %s: want a number from 0 to %d", quoteShort(v), MaxJobListLimit)
			}
			f.Limit = n
		default:
			return f, Errorf(CodeWrongInput, "unknown query parameter %s (known: state, archived, limit)", quoteShort(key))
		}
	}
	return f, nil
}

func parseJobState(s string) (JobState, error) {
	switch js := JobState(s); js {
	case JobQueued, JobWaiting, JobRunning, JobSuccess, JobError, JobCanceling, JobCanceled:
		return js, nil
	}
	return "", Errorf(CodeWrongInput, "unknown job state %s", quoteShort(s))
}

// getJob answers GET /jobs/{id}.
func (s *server) getJob(c *gin.Context) {
	id, err := parseJobID(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	j, err := s.b.GetJob(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, j)
}

// waitJob answers GET /jobs/{id}/wait?state=S&log=N&timeout=D: it returns when
// the job's state differs from S or it has more than N log entries, when it is
// finished, or after D (default 30s, at most 60s), with the job as it is then.
func (s *server) waitJob(c *gin.Context) {
	id, err := parseJobID(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	var (
		state   JobState
		known   int
		timeout = time.Duration(DefaultWaitTimeout)
	)
	for key, vals := range c.Request.URL.Query() {
		v := strings.Join(vals, ",")
		switch key {
		case "state":
			if v != "" {
				if state, err = parseJobState(v); err != nil {
					s.fail(c, err)
					return
				}
			}
		case "log":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				s.fail(c, Errorf(CodeWrongInput, "log %s: want a number of known log entries", quoteShort(v)))
				return
			}
			known = n
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				s.fail(c, Errorf(CodeWrongInput, "timeout %s: want a Go duration such as \"30s\"", quoteShort(v)))
				return
			}
			timeout = min(d, time.Duration(MaxWaitTimeout))
		default:
			s.fail(c, Errorf(CodeWrongInput, "unknown query parameter %s (known: state, log, timeout)", quoteShort(key)))
			return
		}
	}
	j, err := s.b.WaitJob(c.Request.Context(), id, state, known, timeout)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, j)
}

// submitJob answers POST /jobs (a generic JobSubmit) with 202.
func (s *server) submitJob(c *gin.Context) {
	var req JobSubmit
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	if err := req.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	s.submit(c, req)
}

// cancelJob answers DELETE /jobs/{id} with 204 once cancellation is recorded.
func (s *server) cancelJob(c *gin.Context) {
	id, err := parseJobID(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.b.CancelJob(c.Request.Context(), id); err != nil {
		s.fail(c, fmt.Errorf("cancel job %d: %w", id, err))
		return
	}
	c.Status(http.StatusNoContent)
}

// debugDelay answers POST /debug/delay with a debug.delay job.
func (s *server) debugDelay(c *gin.Context) {
	var req DebugDelay
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	if err := req.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	s.submit(c, JobSubmit{Ops: []OpCode{MustOp(OpDebugDelay, req)}})
}
