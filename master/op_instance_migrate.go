package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// opInstanceMigrate moves a running instance to another node, or with
// Cleanup resolves an interrupted migration (docs/migration.md).
func (m *Master) opInstanceMigrate() jobs.Kind {
	return instanceKind(api.OpInstanceMigrate, func(p api.InstanceMigrate) string { return p.Name },
		func(ctx context.Context, p api.InstanceMigrate) error {
			if p.Cleanup {
				return m.checkInstance(ctx, p.Name)
			}
			_, err := m.planMigration(ctx, p.Name, p.MigrateOptions)
			return err
		},
		func(p api.InstanceMigrate) []jobs.Step {
			if p.Cleanup {
				return m.migrateCleanupSteps(p.Name)
			}
			return m.migrateSteps(p.Name, p.MigrateOptions)
		})
}
