package nodeagent

import (
	"context"
	"log/slog"
	"time"

	"github.com/drover-project/drover/nodeagent/storage/drbd"
)

// reattachDRBD attaches lower disks DRBD detached after an I/O error once
// they read again (drbd.Reattacher), looking every 5 s at the state
// (the monitor), until ctx ends.
func (b *BlockStorage) reattachDRBD(ctx context.Context, log *slog.Logger) {
	if b.Monitor == nil {
		return
	}
	r := &drbd.Reattacher{Admin: b.DRBD, Log: log}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if res := b.Monitor.Resources(); res != nil {
			r.Once(ctx, time.Now(), res)
		}
	}
}
