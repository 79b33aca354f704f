package ui

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// pingInterval keeps an idle event stream open through proxies.
const pingInterval = 15 * time.Second

// events streams the view as server-sent events: "view" events carry a
// View; a "logout" event is sent when the session stops being valid.
func (m *Mount) events(c *gin.Context) {
	ch, unsubscribe := m.feed.subscribe()
	defer unsubscribe()
	tok, _ := c.Get(tokenKey)
	tokStr, _ := tok.(string)
	w := c.Writer
	c.Header("Content-Type", "text/event-stream")
	c.Header("Cache-Control", "no-store")
	c.Header("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		var msg string
		select {
		case <-c.Request.Context().Done():
			return
		case <-m.done:
			return
		case data := <-ch:
			msg = "event: view\ndata: " + string(data) + "\n\n"
		case <-ping.C:
			msg = ": ping\n\n"
		}
		if _, err := m.checkToken(c, tokStr); err != nil {
			_, _ = fmt.Fprintf(w, "event: logout\ndata: %q\n\n", err.Error())
			w.Flush()
			return
		}
		if _, err := w.WriteString(msg); err != nil {
			return
		}
		w.Flush()
	}
}

// cancelJob cancels a job for a session of role operate or admin.
func (m *Mount) cancelJob(c *gin.Context) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		m.fail(c, api.Errorf(api.CodeWrongInput, "job id %q: want a positive integer", c.Param("id")))
		return
	}
	if err := m.b.CancelJob(c.Request.Context(), id); err != nil {
		m.fail(c, err)
		return
	}
	m.log.Info("ui job cancel", "job", id, "user", principal(c).User)
	ok(c, map[string]any{"job_id": id, "cancel_requested": true})
}
