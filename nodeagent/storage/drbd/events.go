package drbd

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadEvent: a line of `drbdsetup events2` that cannot be parsed.
var ErrBadEvent = errors.New("drbd: malformed events2 line")

// Event is one line of `drbdsetup events2 [--timestamps]`:
//
//	[TIME] ACTION OBJECT key:value ...
//
// ACTION is exists, create, change, destroy, call or response; OBJECT is
// resource, connection, device, peer-device, path or helper. The line
// "exists -" marks the end of the initial dump.
type Event struct {
	Time   time.Time
	Action string
	Object string
	Fields map[string]string
}

// EndOfDump reports whether e is the "exists -" line after the initial state.
func (e Event) EndOfDump() bool { return e.Action == "exists" && e.Object == "-" }

var actions = map[string]bool{"exists": true, "create": true, "change": true, "destroy": true, "call": true, "response": true, "rename": true}

// ParseEvent parses one events2 line, with or without a leading timestamp.
func ParseEvent(line string) (Event, error) {
	f := strings.Fields(line)
	var e Event
	if len(f) > 0 && !actions[f[0]] {
		t, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			return e, fmt.Errorf("%w: %q: unknown action or time %q", ErrBadEvent, clip(line), f[0])
		}
		e.Time, f = t, f[1:]
	}
	if len(f) < 2 || !actions[f[0]] {
		return e, fmt.Errorf("%w: %q", ErrBadEvent, clip(line))
	}
	e.Action, e.Object = f[0], f[1]
	e.Fields = make(map[string]string, len(f)-2)
	for _, kv := range f[2:] {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || k == "" {
			return e, fmt.Errorf("%w: %q: field %q is not key:value", ErrBadEvent, clip(line), kv)
		}
		e.Fields[k] = v
	}
	if e.Object != "-" && e.Fields["name"] == "" && e.Object != "helper" {
		return e, fmt.Errorf("%w: %q: no resource name", ErrBadEvent, clip(line))
	}
	return e, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
