package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SubmitJob calls POST /jobs and returns the new job's id.
func (c *Client) SubmitJob(ctx context.Context, sub JobSubmit) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/jobs", sub)
}

// DebugDelay calls POST /debug/delay and returns the id of the debug.delay job.
func (c *Client) DebugDelay(ctx context.Context, d DebugDelay) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/debug/delay", d)
}

// GetJob calls GET /jobs/{id}.
func (c *Client) GetJob(ctx context.Context, id uint64) (*Job, error) {
	var j Job
	if err := c.do(ctx, request{method: http.MethodGet, path: jobPath(id), out: &j}); err != nil {
		return nil, err
	}
	return &j, nil
}

// ListJobs calls GET /jobs with f's states, archive flag and limit.
func (c *Client) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	v := url.Values{}
	if len(f.States) > 0 {
		s := make([]string, len(f.States))
		for i, st := range f.States {
			s[i] = string(st)
		}
		v.Set("state", strings.Join(s, ","))
	}
	if f.Archived {
		v.Set("archived", "1")
	}
	if f.Limit > 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	var jobs []Job
	if err := c.do(ctx, request{method: http.MethodGet, path: "/jobs", query: v, out: &jobs}); err != nil {
		return nil, err
	}
	return jobs, nil
}

// CancelJob calls DELETE /jobs/{id}.
func (c *Client) CancelJob(ctx context.Context, id uint64) error {
	return c.do(ctx, request{method: http.MethodDelete, path: jobPath(id)})
}

// WaitJob calls GET /jobs/{id}/wait: it returns when the job's state differs
// from knownState or its log has more than knownLog entries, when it is
// finished, or after timeout (at most 60s server side).
func (c *Client) WaitJob(ctx context.Context, id uint64, knownState JobState, knownLog int, timeout time.Duration) (*Job, error) {
	v := url.Values{}
	if knownState != "" {
		v.Set("state", string(knownState))
	}
	v.Set("log", strconv.Itoa(knownLog))
	v.Set("timeout", timeout.String())
	var j Job
	if err := c.do(ctx, request{method: http.MethodGet, path: jobPath(id) + "/wait", query: v, out: &j, wait: timeout}); err != nil {
		return nil, err
	}
	return &j, nil
}

// WaitForJob long-polls job id until it is finished and returns it. onUpdate
// (may be nil) is called with the job first and then whenever its state or
// log changed; new log lines are those past the previous call's. While no
// master is reachable (a leader handover) it keeps trying until ctx ends.
// A job that finished in error is returned with a nil error: look at
// Job.State and Job.Error.
func (c *Client) WaitForJob(ctx context.Context, id uint64, onUpdate func(*Job)) (*Job, error) {
	const poll = 30 * time.Second
	backoff := 200 * time.Millisecond
	var last *Job
	for {
		var (
			j   *Job
			err error
		)
		if last == nil {
			j, err = c.GetJob(ctx, id)
		} else {
			j, err = c.WaitJob(ctx, id, last.State, len(last.Log), poll)
		}
		if err != nil {
			if CodeOf(err) != CodeUnavailable || ctx.Err() != nil {
				return last, err
			}
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, 2*time.Second)
				continue
			case <-ctx.Done():
				return last, err
			}
		}
		backoff = 200 * time.Millisecond
		if onUpdate != nil && (last == nil || j.State != last.State || len(j.Log) != len(last.Log)) {
			onUpdate(j)
		}
		last = j
		if j.State.Finished() {
			return j, nil
		}
	}
}

func jobPath(id uint64) string { return "/jobs/" + strconv.FormatUint(id, 10) }
