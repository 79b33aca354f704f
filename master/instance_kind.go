package master

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/drover-project/drover/master/jobs"
)

// instanceLock is the lock of instance name. Names are unique without regard
// to case, so the lock is too: adds of "Web1" and "web1" run one after the
// other, and the second finds the first's record.
func instanceLock(name string) string { return "instance/" + strings.ToLower(name) }

// parseOp decodes raw strictly into a fresh T and validates it.
func parseOp[T interface{ Validate() error }](raw json.RawMessage) (T, error) {
	var p T
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	return p, p.Validate()
}

// instanceKind builds the Kind of an opcode on one existing instance.
func instanceKind[T interface{ Validate() error }](name string, instName func(T) string,
	check func(context.Context, T) error, steps func(T) []jobs.Step) jobs.Kind {
	return jobs.Kind{
		Name: name,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parseOp[T](raw)
			if err != nil {
				return err
			}
			return check(ctx, p)
		},
		Locks: func(raw json.RawMessage) []string { return []string{instanceLock(paramName(raw))} },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[T](raw)
			if err != nil {
				return nil, err
			}
			return steps(p), nil
		},
	}
}
