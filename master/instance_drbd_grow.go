package master

import (
	"context"
	"fmt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// growBlockDisk grows disk i of a plain or drbd instance to sizeMiB: the LV
// on every secondary first, then on the primary with `drbdadm resize` (DRBD
// grows only once every peer's backing device is larger), then waits for
// the sync of the new part. The record is updated by the caller's next
// step; a re-run grows to the same size (no-op).
func (m *Master) growBlockDisk(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, i int, sizeMiB int64) error {
	grown := *rec
	grown.Disks = append([]keys.DiskSpec(nil), rec.Disks...)
	grown.Disks[i].SizeMiB = sizeMiB
	for _, n := range secondaryNodes(rec) {
		if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("grow-%d-%s", i, n), nodeCmd{Node: n, Kind: keys.CmdDiskResize,
			Instance: grown, Params: keys.DiskParams{Disk: i}}); err != nil {
			return fmt.Errorf("grow disk %d of %s on %s: %w", i, rec.Name, n, err)
		}
		sc.Logf("disk %d of %s: LV grown to %d MiB on %s", i, rec.Name, sizeMiB, n)
	}
	if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("grow-%d-%s", i, rec.PrimaryNode), nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdDiskResize,
		Instance: grown, Params: keys.DiskParams{Disk: i, Primary: true}}); err != nil {
		return fmt.Errorf("grow disk %d of %s on %s: %w", i, rec.Name, rec.PrimaryNode, err)
	}
	what := "LV grown"
	if rec.DiskTemplate == api.DiskTemplateDRBD {
		what = "LV grown and drbdadm resize"
	}
	sc.Logf("disk %d of %s: %s to %d MiB on %s (primary)", i, rec.Name, what, sizeMiB, rec.PrimaryNode)
	if rec.DiskTemplate != api.DiskTemplateDRBD {
		return nil
	}
	above := make([]int64, i+1)
	above[i] = rec.Disks[i].SizeMiB * 1024 // DRBD's device is the LV less its metadata
	return m.waitSync(ctx, sc, &grown, above...)
}
