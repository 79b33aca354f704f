package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code. Scripts and clients may rely on
// these strings; never rename one.
type Code string

const (
	CodeWrongInput            Code = "wrong_input"
	CodeUnknownEntity         Code = "unknown_entity"
	CodeAlreadyExists         Code = "already_exists"
	CodeWrongState            Code = "wrong_state"
	CodeInsufficientResources Code = "insufficient_resources"
	CodeUnauthorized          Code = "unauthorized"
	CodeForbidden             Code = "forbidden"
	CodeInternal              Code = "internal"
	// CodeUnavailable: no leader, quorum lost, or a master cannot be reached.
	// Safe to retry.
	CodeUnavailable Code = "unavailable"
)

// Error is the error type that crosses the API boundary. Its JSON form is the
// body of every non-2xx answer: {"error":{"code":"...","message":"..."}}.
type Error struct {
	// Code is one of the Code constants.
	Code Code `json:"code"`
	// Message is a human-readable explanation.
	Message string `json:"message"`

	// cause is the error this one was made from (not sent on the wire).
	cause error
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Unwrap returns the error e was made from (a %w argument of Errorf, the
// error given to AsError or Wrap), so that errors.Is and errors.As see
// through the API error to its cause.
func (e *Error) Unwrap() error { return e.cause }

// Errorf makes an *Error with the given code. A %w verb keeps its argument
// as the cause (Unwrap), as fmt.Errorf does.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), cause: errors.Unwrap(err)}
}

// Wrap makes an *Error with the given code whose message is err's, and
// whose cause is err.
func Wrap(code Code, err error) *Error {
	return &Error{Code: code, Message: err.Error(), cause: err}
}

// sentinel is an error value that carries a code (see NewSentinel).
type sentinel struct {
	code Code
	msg  string
}

func (s *sentinel) Error() string   { return s.msg }
func (s *sentinel) ErrorCode() Code { return s.code }

// NewSentinel is errors.New for a sentinel error that has a code: CodeOf
// (and so the API's answers and a failed job's code) gives that code for
// any error that wraps it and carries no *Error before it. Packages
// declare their sentinels with it (store.ErrNotFound is unknown_entity,
// store.ErrFenced unavailable, ...) instead of mapping them at each call.
func NewSentinel(code Code, msg string) error { return &sentinel{code: code, msg: msg} }

// ErrorBody is the JSON envelope of an error answer.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// CodeOf is the one function that maps errors to codes: the Code of the
// first *Error in err's chain, else that of a sentinel made by NewSentinel
// in it, else CodeInternal. CodeOf(nil) is "".
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	var coded interface{ ErrorCode() Code }
	if errors.As(err, &coded) {
		return coded.ErrorCode()
	}
	return CodeInternal
}

// AsError converts any error to an *Error, keeping its code if it has one
// (CodeOf) and err as its cause.
func AsError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		if ae.Message == "" {
			return &Error{Code: ae.Code, Message: err.Error(), cause: err}
		}
		return ae
	}
	return &Error{Code: CodeOf(err), Message: err.Error(), cause: err}
}

// HTTPStatus maps a code to its HTTP status. This is the one table that does so.
func HTTPStatus(c Code) int {
	switch c {
	case CodeWrongInput:
		return http.StatusBadRequest
	case CodeUnknownEntity:
		return http.StatusNotFound
	case CodeAlreadyExists, CodeWrongState:
		return http.StatusConflict
	case CodeInsufficientResources:
		return http.StatusUnprocessableEntity
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
