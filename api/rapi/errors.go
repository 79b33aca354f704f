package rapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// ErrorBody is Ganeti's error answer: the HTTP status, a message and the
// status's long explanation. ErrorCode is drover's stable code (an addition
// Ganeti clients ignore).
type ErrorBody struct {
	Code      int    `json:"code"`
	Message   string `json:"message"`
	Explain   string `json:"explain"`
	ErrorCode string `json:"error_code,omitempty"`
}

// explanations are the long status texts Ganeti's HTTP server sends
// (Python's BaseHTTPRequestHandler.responses).
var explanations = map[int]string{
	http.StatusBadRequest:            "Bad request syntax or unsupported method",
	http.StatusUnauthorized:          "No permission -- see authorization schemes",
	http.StatusForbidden:             "Request forbidden -- authorization will not help",
	http.StatusNotFound:              "Nothing matches the given URI",
	http.StatusMethodNotAllowed:      "Specified method is invalid for this resource.",
	http.StatusConflict:              "Request conflict.",
	http.StatusRequestEntityTooLarge: "Entity is too large.",
	http.StatusUnprocessableEntity:   "The server understands the request but cannot process it.",
	http.StatusInternalServerError:   "Server got itself in trouble",
	http.StatusNotImplemented:        "Server does not support this operation",
	http.StatusBadGateway:            "Invalid responses from another server/proxy.",
	http.StatusServiceUnavailable:    "The server cannot process the request due to a high load",
}

// errNotImplemented marks what drover does not do (yet): 501.
type errNotImplemented struct{ msg string }

func (e *errNotImplemented) Error() string { return e.msg }

func notImplemented(format string, args ...any) error {
	return &errNotImplemented{msg: fmt.Sprintf(format, args...)}
}

// fail writes err in Ganeti's error format. This is the one place where the
// RAPI layer turns errors into answers.
func (h *Mount) fail(c *gin.Context, err error) {
	var ni *errNotImplemented
	var ae *api.Error
	status, msg, code := http.StatusInternalServerError, "internal error; see the master's log", string(api.CodeInternal)
	switch {
	case errors.As(err, &ni):
		status, msg, code = http.StatusNotImplemented, ni.msg, ""
	case errors.As(err, &ae) && ae.Code != api.CodeInternal && ae.Code != "":
		status, msg, code = api.HTTPStatus(ae.Code), ae.Message, string(ae.Code)
		if err != error(ae) {
			msg = err.Error()
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status, msg, code = http.StatusServiceUnavailable, "request timed out or was canceled", string(api.CodeUnavailable)
	default:
		h.log.Error("rapi_internal_error", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	}
	failStatus(c, status, msg, code)
}

func failStatus(c *gin.Context, status int, msg, code string) {
	explain, ok := explanations[status]
	if !ok {
		explain = http.StatusText(status)
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Basic realm="Ganeti Remote API"`)
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, ErrorBody{Code: status, Message: msg, Explain: explain, ErrorCode: code})
}

// wrongInput is a 400 with code wrong_input.
func wrongInput(format string, args ...any) error {
	return api.Errorf(api.CodeWrongInput, format, args...)
}

// ganetiErrorType is the Ganeti exception class a failed opcode reports,
// and ganetiECode the error code (Ganeti's errors.ECODE_*).
func ganetiError(e *api.Error) []any {
	typ, ecode := "OpExecError", "internal_error"
	switch e.Code {
	case api.CodeWrongInput, api.CodeUnknownEntity, api.CodeAlreadyExists, api.CodeWrongState, api.CodeInsufficientResources:
		typ, ecode = "OpPrereqError", string(e.Code)
	case api.CodeUnavailable:
		ecode = "temp_insufficient_resources"
	}
	return []any{typ, []any{e.Message, ecode}}
}
