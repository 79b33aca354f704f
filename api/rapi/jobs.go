package rapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// waitTimeout is how long /2/jobs/N/wait waits for a change (Ganeti's
// _WFJC_TIMEOUT).
const waitTimeout = 10 * time.Second

// opIDs maps drover's opcode kinds onto Ganeti's OP_IDs.
var opIDs = map[string]string{
	api.OpNodeAdd: "OP_NODE_ADD", api.OpNodeRemove: "OP_NODE_REMOVE", api.OpNodeModify: "OP_NODE_SET_PARAMS",
	api.OpDebugDelay: "OP_TEST_DELAY", api.OpInstanceAdd: "OP_INSTANCE_CREATE",
	api.OpInstanceRemove: "OP_INSTANCE_REMOVE", api.OpInstanceStartup: "OP_INSTANCE_STARTUP",
	api.OpInstanceShutdown: "OP_INSTANCE_SHUTDOWN", api.OpInstanceReboot: "OP_INSTANCE_REBOOT",
	api.OpInstanceReinstall: "OP_INSTANCE_REINSTALL", api.OpInstanceRename: "OP_INSTANCE_RENAME",
	api.OpInstanceGrowDisk: "OP_INSTANCE_GROW_DISK", api.OpInstanceModify: "OP_INSTANCE_SET_PARAMS",
	api.OpTagsModify: "OP_TAGS_SET", api.OpInstanceMigrate: "OP_INSTANCE_MIGRATE", api.OpInstanceFailover: "OP_INSTANCE_FAILOVER",
	api.OpInstanceActivateDisks: "OP_INSTANCE_ACTIVATE_DISKS", api.OpInstanceDeactivateDisks: "OP_INSTANCE_DEACTIVATE_DISKS",
}

func opID(kind string) string {
	if id, found := opIDs[kind]; found {
		return id
	}
	return "OP_DROVER_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(kind))
}

// timestamp is Ganeti's (seconds, microseconds) pair, or null.
func timestamp(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return []int64{t.Unix(), int64(t.Nanosecond() / 1000)}
}

// logEntry is Ganeti's (serial, timestamp, type, message).
func logEntry(e api.JobLogEntry) []any {
	return []any{e.Serial, timestamp(&e.Time), "message", e.Message}
}

// jobField returns one of Ganeti's job fields of j.
func jobField(j *api.Job, field string) (any, error) {
	switch field {
	case "id":
		return j.ID, nil
	case "status":
		return string(j.State), nil
	case "priority":
		return j.Priority, nil
	case "received_ts":
		return timestamp(&j.ReceivedAt), nil
	case "start_ts":
		return timestamp(j.StartedAt), nil
	case "end_ts":
		return timestamp(j.EndedAt), nil
	case "ops", "summary":
		out := []any{}
		for _, o := range j.Ops {
			params := map[string]any{}
			_ = json.Unmarshal(o.Params, &params)
			if field == "summary" {
				short := strings.TrimPrefix(opID(o.Kind), "OP_")
				if n, isStr := params["name"].(string); isStr && n != "" {
					short += "(" + n + ")"
				}
				out = append(out, short)
				continue
			}
			params["OP_ID"] = opID(o.Kind)
			out = append(out, params)
		}
		return out, nil
	case "opstatus":
		out := []string{}
		for i := range j.Ops {
			out = append(out, string(opState(j, i)))
		}
		return out, nil
	case "opresult":
		out := []any{}
		for i := range j.Ops {
			switch {
			case opState(j, i) == api.JobError && j.Error != nil:
				out = append(out, ganetiError(j.Error))
			case i < len(j.OpStatus) && len(j.OpStatus[i].Result) > 0:
				out = append(out, j.OpStatus[i].Result)
			default:
				out = append(out, nil)
			}
		}
		return out, nil
	case "oplog":
		out := make([][]any, len(j.Ops))
		for i := range out {
			out[i] = []any{}
		}
		for _, e := range j.Log {
			i := max(e.Op, 0)
			if i < len(out) {
				out[i] = append(out[i], logEntry(e))
			}
		}
		return out, nil
	}
	return nil, wrongInput("unknown job field %q", field)
}

func opState(j *api.Job, i int) api.JobState {
	if i < len(j.OpStatus) {
		return j.OpStatus[i].State
	}
	return api.JobQueued
}

// Ganeti's job fields: every one for a single job, J_FIELDS_BULK for lists.
var (
	jobFieldsBulk = []string{"id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"}
	jobFields     = append(append([]string{}, jobFieldsBulk...), "oplog", "opresult")
)

func jobJSON(j *api.Job, fields []string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		out[f], _ = jobField(j, f)
	}
	return out
}

func jobID(c *gin.Context) (uint64, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return 0, wrongInput("job id %q: want a number", c.Param("id"))
	}
	return id, nil
}

func (h *Mount) listJobs(c *gin.Context) {
	bk, err := bulk(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	jobs, err := h.b.ListJobs(c.Request.Context(), api.JobFilter{})
	if err != nil {
		h.fail(c, err)
		return
	}
	out := []any{}
	for i := len(jobs) - 1; i >= 0; i-- { // oldest first, as Ganeti sorts
		j := &jobs[i]
		if bk {
			out = append(out, jobJSON(j, jobFieldsBulk))
		} else {
			out = append(out, map[string]any{"id": j.ID, "uri": fmt.Sprintf("/2/jobs/%d", j.ID)})
		}
	}
	ok(c, out)
}

func (h *Mount) getJob(c *gin.Context) {
	id, err := jobID(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	j, err := h.b.GetJob(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	ok(c, jobJSON(j, jobFields))
}

// cancelJob answers DELETE /2/jobs/N with Ganeti's (success, message).
func (h *Mount) cancelJob(c *gin.Context) {
	id, err := jobID(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	err = h.b.CancelJob(c.Request.Context(), id)
	switch api.CodeOf(err) {
	case "":
		ok(c, []any{true, fmt.Sprintf("Job %d will be canceled", id)})
	case api.CodeWrongState:
		ok(c, []any{false, api.AsError(err).Message})
	default:
		h.fail(c, err)
	}
}

// waitJob answers GET /2/jobs/N/wait {fields, previous_job_info,
// previous_log_serial}: {job_info, log_entries} as soon as the fields or the
// log differ from what the caller knows, null after waitTimeout without a
// change.
func (h *Mount) waitJob(c *gin.Context) {
	id, err := jobID(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	var req struct {
		Fields     []string        `json:"fields"`
		Prev       json.RawMessage `json:"previous_job_info"`
		PrevSerial *int            `json:"previous_log_serial"`
	}
	if err := body(c, &req); err != nil {
		h.fail(c, err)
		return
	}
	if req.Fields == nil {
		h.fail(c, wrongInput("The 'fields' parameter should be a list"))
		return
	}
	ctx := c.Request.Context()
	j, err := h.b.GetJob(ctx, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		info := make([]any, len(req.Fields))
		for i, f := range req.Fields {
			if info[i], err = jobField(j, f); err != nil {
				h.fail(c, err)
				return
			}
		}
		logs := []any{}
		for _, e := range j.Log {
			if req.PrevSerial == nil || e.Serial > *req.PrevSerial {
				logs = append(logs, logEntry(e))
			}
		}
		if len(logs) > 0 || !sameJSON(info, req.Prev) || j.State.Finished() {
			ok(c, map[string]any{"job_info": info, "log_entries": logs})
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			ok(c, nil)
			return
		}
		if j, err = h.b.WaitJob(ctx, id, j.State, len(j.Log), left); err != nil {
			h.fail(c, err)
			return
		}
	}
}

// sameJSON compares v with raw JSON by their encodings (numbers decoded as
// json.Number keep their digits).
func sameJSON(v any, raw json.RawMessage) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return false
	}
	var prev any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if dec.Decode(&prev) != nil {
		return false
	}
	a, err1 := json.Marshal(v)
	b, err2 := json.Marshal(prev)
	return err1 == nil && err2 == nil && string(a) == string(b)
}
