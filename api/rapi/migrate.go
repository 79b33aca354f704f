package rapi

import (
	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// parseMigrate reads Ganeti's MigrateInstance body {mode, cleanup,
// target_node, allow_failover, iallocator}. Ganeti's "non-live" mode (the
// guest paused while it moves) is drover's hibernate (saved, moved,
// restored: paused as well); allow_failover and iallocator are refused.
func parseMigrate(name string, req map[string]any) (api.InstanceMigrate, error) {
	p := api.InstanceMigrate{Name: name}
	for k, v := range req {
		switch k {
		case "mode":
			s, ok := v.(string)
			switch {
			case !ok:
				return p, wrongInput("mode: want a string")
			case s == "live":
				p.Mode = api.MigrateModeLive
			case s == "non-live":
				p.Mode = api.MigrateModeHibernate
			default:
				return p, wrongInput("migration mode %q: want live or non-live", s)
			}
		case "cleanup":
			b, ok := v.(bool)
			if !ok {
				return p, wrongInput("cleanup: want a boolean")
			}
			p.Cleanup = b
		case "target_node":
			s, ok := v.(string)
			if !ok {
				return p, wrongInput("target_node: want a string")
			}
			p.TargetNode = s
		case "allow_failover":
			if b, ok := v.(bool); !ok || b {
				return p, wrongInput("allow_failover is not supported by drover (failover is its own verb)")
			}
		case "iallocator":
			if v != nil && v != "" {
				return p, wrongInput("iallocator is not supported: drover's own allocator picks the target")
			}
		default:
			return p, wrongInput("unknown parameter %q", k)
		}
	}
	return p, p.Validate()
}

// migrateInstance answers PUT /2/instances/NAME/migrate.
func (h *Mount) migrateInstance(c *gin.Context) {
	var req map[string]any
	if err := body(c, &req); err != nil {
		h.fail(c, err)
		return
	}
	p, err := parseMigrate(c.Param("name"), req)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.submit(c, op(api.OpInstanceMigrate, p))
}
