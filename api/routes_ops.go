package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
)

// Backuper is the optional part of a Backend that writes cluster backups
// (the master; docs/operations.md).
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) error
}

// opsRoutes are the operator's routes: backup, and what comes with it.
func (s *server) opsRoutes() []route {
	return []route{
		{http.MethodGet, "/cluster/backup", RoleAdmin, s.clusterBackup},
	}
}

// clusterBackup answers GET /cluster/backup with a backup (gzip'd tar). It
// is written to a temporary file first, so that a failure is an error
// answer rather than a cut-off download.
func (s *server) clusterBackup(c *gin.Context) {
	b, ok := s.b.(Backuper)
	if !ok {
		s.fail(c, Errorf(CodeWrongState, "this server makes no backups"))
		return
	}
	f, err := os.CreateTemp("", "drover-backup-*.tar.gz")
	if err != nil {
		s.fail(c, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := b.Backup(c.Request.Context(), f); err != nil {
		s.fail(c, err)
		return
	}
	name := fmt.Sprintf("drover-backup-%s.tar.gz", time.Now().UTC().Format("20060102T150405Z"))
	c.Header("Content-Type", "application/gzip")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	http.ServeContent(c.Writer, c.Request, name, time.Now(), f)
}
