package master

import (
	"context"
	"fmt"
	"strings"

	"github.com/drover-project/drover/api"
)

// verifyDRBD adds cluster verify's findings about the disks of drbd
// instances, from what their nodes publish: a side that is not reported
// (node down or resource down), not UpToDate, disconnected from its peer,
// or split-brained (an error: it is never resolved automatically). Disks
// deactivated on purpose (deactivate-disks) are not checked.
func (m *Master) verifyDRBD(ctx context.Context, add func(sev, code, obj, format string, args ...any)) error {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return err
	}
	for i := range v.instances {
		r := &v.instances[i]
		if r.DiskTemplate != api.DiskTemplateDRBD || r.CreatingJob != 0 || r.DisksDown {
			continue
		}
		disks, err := m.instanceDRBD(ctx, r)
		if err != nil {
			return err
		}
		for _, d := range disks {
			var bad []string
			for _, s := range d.Nodes {
				switch {
				case s.SplitBrain:
					add("error", "EDRBDSPLITBRAIN", "instance/"+r.Name, "disk %d (%s) of %s: split brain seen on %s; resolve it by hand (docs/drbd.md)",
						d.Disk, d.Resource, r.Name, s.Node)
				case s.Role == "":
					bad = append(bad, s.Node+" does not report it")
				case s.Disk != "UpToDate" || s.PeerDisk != "UpToDate" || s.Connection != "Connected":
					bad = append(bad, fmt.Sprintf("%s: %s, disk %s, peer disk %s, %s, %.1f%% in sync", s.Node, s.Role, s.Disk,
						orDefault(s.PeerDisk, "-"), orDefault(s.Connection, "-"), s.SyncPercent))
				}
			}
			if len(bad) > 0 {
				add("warning", "EDRBDDEGRADED", "instance/"+r.Name, "disk %d (%s) of %s is degraded: %s", d.Disk, d.Resource, r.Name, strings.Join(bad, "; "))
			}
		}
	}
	return nil
}
