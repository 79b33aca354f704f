package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode"
)

// Limits on request contents checked by Validate.
const (
	// MaxOpsPerJob is the most opcodes one job may carry.
	MaxOpsPerJob = 32
	// MaxTags is the most tags one object may carry; MaxTagLen the longest tag.
	MaxTags   = 32
	MaxTagLen = 128
	// MaxDebugDelay is the longest debug.delay job; MaxDebugSteps its most steps.
	MaxDebugDelay = time.Hour
	MaxDebugSteps = 3600
	// DefaultTokenTTL and MaxTokenTTL bound TokenRequest.TTL.
	DefaultTokenTTL = 24 * time.Hour
	MaxTokenTTL     = 8760 * time.Hour
)

// Validate checks a NodeAdd without looking at the cluster (the master checks
// that the name is free). Failures are *Error with CodeWrongInput.
func (n NodeAdd) Validate() error {
	if err := ValidHostname(n.Name); err != nil {
		return fmt.Errorf("node name: %w", err)
	}
	if err := validIP("primary_ip", n.PrimaryIP); err != nil {
		return err
	}
	if err := validIP("secondary_ip", n.SecondaryIP); err != nil {
		return err
	}
	if n.Group != "" {
		if err := ValidHostname(n.Group); err != nil {
			return fmt.Errorf("group: %w", err)
		}
	}
	return validTags(n.Tags)
}

// Validate checks a NodeModify: at least one field set, a valid secondary IP
// ("" is not allowed: a node always keeps a replication address once set).
func (m NodeModify) Validate() error {
	if m.Drained == nil && m.Offline == nil && m.MasterCapable == nil && m.VMCapable == nil && m.SecondaryIP == nil {
		return Errorf(CodeWrongInput, "nothing to change")
	}
	if m.SecondaryIP != nil {
		if *m.SecondaryIP == "" {
			return Errorf(CodeWrongInput, "secondary_ip: empty")
		}
		if err := validIP("secondary_ip", *m.SecondaryIP); err != nil {
			return err
		}
	}
	if m.Drained != nil && m.Offline != nil && *m.Drained && *m.Offline {
		return Errorf(CodeWrongInput, "a node cannot be set drained and offline at once")
	}
	return nil
}

// Validate checks a node.modify opcode.
func (m NodeModifyOp) Validate() error {
	if err := ValidHostname(m.Name); err != nil {
		return fmt.Errorf("node name: %w", err)
	}
	return m.NodeModify.Validate()
}

// Validate checks a node.remove opcode.
func (r NodeRemove) Validate() error {
	if err := ValidHostname(r.Name); err != nil {
		return fmt.Errorf("node name: %w", err)
	}
	return nil
}

// Validate checks a debug.delay opcode: a duration from 0 to MaxDebugDelay and
// from 0 (default) to MaxDebugSteps steps.
func (d DebugDelay) Validate() error {
	_, err := d.ParseDuration()
	if err != nil {
		return err
	}
	if d.Steps < 0 || d.Steps > MaxDebugSteps {
		return Errorf(CodeWrongInput, "steps must be between 0 and %d", MaxDebugSteps)
	}
	return nil
}

// ParseDuration returns Duration as a time.Duration (wrong_input if it does not
// parse or is out of range).
func (d DebugDelay) ParseDuration() (time.Duration, error) {
	dur, err := time.ParseDuration(d.Duration)
	if err != nil {
		return 0, Errorf(CodeWrongInput, "duration %s: not a Go duration such as \"8s\"", quoteShort(d.Duration))
	}
	if dur < 0 || dur > MaxDebugDelay {
		return 0, Errorf(CodeWrongInput, "duration must be between 0s and %s", MaxDebugDelay)
	}
	return dur, nil
}

// Validate checks a UserAdd: a hostname-like name and a role of read, operate
// or admin.
func (u UserAdd) Validate() error {
	if err := ValidUserName(u.Name); err != nil {
		return err
	}
	switch u.Role {
	case RoleRead, RoleOperate, RoleAdmin:
		return nil
	}
	return Errorf(CodeWrongInput, "role %s: must be read, operate or admin", quoteShort(u.Role))
}

// ParseTTL returns the requested TTL, DefaultTokenTTL when empty.
func (r TokenRequest) ParseTTL() (time.Duration, error) {
	if r.TTL == "" {
		return DefaultTokenTTL, nil
	}
	d, err := time.ParseDuration(r.TTL)
	if err != nil {
		return 0, Errorf(CodeWrongInput, "ttl %s: not a Go duration such as \"24h\"", quoteShort(r.TTL))
	}
	if d <= 0 || d > MaxTokenTTL {
		return 0, Errorf(CodeWrongInput, "ttl must be above 0 and at most %s", MaxTokenTTL)
	}
	return d, nil
}

// Validate checks a JobSubmit: 1 to MaxOpsPerJob known opcodes whose params
// decode strictly into their types and validate, priority in -20..19.
func (s JobSubmit) Validate() error {
	if len(s.Ops) == 0 {
		return Errorf(CodeWrongInput, "a job needs at least one opcode")
	}
	if len(s.Ops) > MaxOpsPerJob {
		return Errorf(CodeWrongInput, "a job may have at most %d opcodes", MaxOpsPerJob)
	}
	if s.Priority < -20 || s.Priority > 19 {
		return Errorf(CodeWrongInput, "priority must be between -20 and 19")
	}
	for i, op := range s.Ops {
		if _, err := DecodeOp(op); err != nil {
			return fmt.Errorf("op %d (%s): %w", i, quoteShort(op.Kind), err)
		}
	}
	return nil
}

// DecodeOp decodes and validates the params of op into the type of its kind
// (NodeAdd, NodeRemove, NodeModifyOp, DebugDelay), refusing unknown fields and
// trailing data. Unknown kinds are wrong_input.
func DecodeOp(op OpCode) (any, error) {
	var v interface{ Validate() error }
	switch op.Kind {
	case OpNodeAdd:
		v = &NodeAdd{}
	case OpNodeRemove:
		v = &NodeRemove{}
	case OpNodeModify:
		v = &NodeModifyOp{}
	case OpDebugDelay:
		v = &DebugDelay{}
	default:
		return nil, Errorf(CodeWrongInput, "unknown opcode kind %s", quoteShort(op.Kind))
	}
	if len(op.Params) == 0 {
		return nil, Errorf(CodeWrongInput, "params missing")
	}
	if err := DecodeStrict(bytes.NewReader(op.Params), v); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// MustOp builds an OpCode from kind and params; it panics only if params
// cannot be marshalled, which no wire type of this package does.
func MustOp(kind string, params any) OpCode {
	b, err := json.Marshal(params)
	if err != nil {
		panic(fmt.Sprintf("api: marshal %s params: %v", kind, err))
	}
	return OpCode{Kind: kind, Params: b}
}

// DecodeStrict decodes exactly one JSON value from r into v: unknown fields,
// duplicate keys in one object (compared without regard to case, as fields
// are matched), trailing data, an empty body and type mismatches are
// wrong_input. Errors of r itself (such as *http.MaxBytesError) are returned
// wrapped, unchanged. r is read whole first (request bodies are bounded by
// MaxBodyBytes).
func DecodeStrict(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return jsonError(err)
	}
	if k, where, dup := duplicateKey(data); dup {
		return Errorf(CodeWrongInput, "duplicate key %s in %s", quoteShort(k), where)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return jsonError(err)
		}
		return Errorf(CodeWrongInput, "malformed JSON: trailing data after the value")
	}
	return nil
}

// jsonError turns a decoding error into a wrong_input *Error, except errors of
// the underlying reader which keep their identity.
func jsonError(err error) error {
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		ae   *Error
		tmsg string
	)
	switch {
	case isReaderError(err):
		return fmt.Errorf("read body: %w", err)
	case errors.As(err, &ae):
		return err
	case errors.Is(err, io.EOF):
		return Errorf(CodeWrongInput, "malformed JSON: empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(CodeWrongInput, "malformed JSON: unexpected end of body")
	case errors.As(err, &syn):
		return Errorf(CodeWrongInput, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		tmsg = typ.Field
		if tmsg == "" {
			tmsg = "body"
		}
		return Errorf(CodeWrongInput, "wrong JSON type for %s: got %s, want %s", quoteShort(tmsg), typ.Value, typ.Type)
	}
	var ute *json.UnsupportedTypeError
	if errors.As(err, &ute) {
		return Errorf(CodeWrongInput, "malformed JSON: %v", err)
	}
	// Unknown fields ("json: unknown field \"x\"") and invalid values (such as
	// a bad time) come as plain errors from encoding/json.
	msg := trimJSONPrefix(err.Error())
	if strings.HasPrefix(msg, "unknown field ") {
		return Errorf(CodeWrongInput, "%s", msg)
	}
	return Errorf(CodeWrongInput, "malformed JSON: %s", msg)
}

// readerError marks errors raised by a request body reader (see
// limitedBody), so that they are not mistaken for bad JSON.
type readerError struct{ err error }

func (e *readerError) Error() string { return e.err.Error() }
func (e *readerError) Unwrap() error { return e.err }

func isReaderError(err error) bool {
	var re *readerError
	return errors.As(err, &re)
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		s = s[len(p):]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func validIP(field, s string) error {
	if s == "" {
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return Errorf(CodeWrongInput, "%s %s is not an IP address", field, quoteShort(s))
	}
	return nil
}

func validTags(tags []string) error {
	if len(tags) > MaxTags {
		return Errorf(CodeWrongInput, "at most %d tags", MaxTags)
	}
	for _, t := range tags {
		if t == "" || len(t) > MaxTagLen {
			return Errorf(CodeWrongInput, "tags must have 1 to %d characters", MaxTagLen)
		}
		for _, r := range t {
			if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
				return Errorf(CodeWrongInput, "tag %s: non-printable character", quoteShort(t))
			}
		}
	}
	return nil
}
