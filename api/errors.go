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
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf makes an *Error with the given code.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorBody is the JSON envelope of an error answer.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// CodeOf returns the Code carried by err (anywhere in its chain), or
// CodeInternal when err carries none. CodeOf(nil) is "".
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return CodeInternal
}

// AsError converts any error to an *Error, keeping its code if it has one.
func AsError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		if ae.Message == "" {
			return &Error{Code: ae.Code, Message: err.Error()}
		}
		return ae
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
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
