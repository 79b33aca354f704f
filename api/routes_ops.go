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

// MasterMembership is the optional part of a Backend that adds and removes
// masters' etcd members (the master with embedded etcd).
type MasterMembership interface {
	Members(ctx context.Context) ([]EtcdMember, error)
	AddMaster(ctx context.Context, a MasterAdd) ([]EtcdMember, error)
	RemoveMaster(ctx context.Context, name string) ([]EtcdMember, error)
}

// opsRoutes are the operator's routes: backup, the masters' membership.
func (s *server) opsRoutes() []route {
	return []route{
		{http.MethodGet, "/cluster/backup", RoleAdmin, s.clusterBackup},
		{http.MethodGet, "/cluster/members", RoleRead, s.clusterMembers},
		{http.MethodPost, "/cluster/masters", RoleAdmin, s.addMaster},
		{http.MethodDelete, "/cluster/masters/:name", RoleAdmin, s.removeMaster},
	}
}

func (s *server) membership(c *gin.Context) (MasterMembership, bool) {
	mm, ok := s.b.(MasterMembership)
	if !ok {
		s.fail(c, Errorf(CodeWrongState, "this server manages no etcd members"))
	}
	return mm, ok
}

// clusterMembers answers GET /cluster/members.
func (s *server) clusterMembers(c *gin.Context) {
	if mm, ok := s.membership(c); ok {
		s.membersAnswer(c, http.StatusOK)(mm.Members(c.Request.Context()))
	}
}

// addMaster answers POST /cluster/masters (body MasterAdd).
func (s *server) addMaster(c *gin.Context) {
	mm, ok := s.membership(c)
	if !ok {
		return
	}
	var a MasterAdd
	if err := s.bind(c, &a); err != nil {
		s.failBind(c, err)
		return
	}
	s.membersAnswer(c, http.StatusCreated)(mm.AddMaster(c.Request.Context(), a))
}

// removeMaster answers DELETE /cluster/masters/{name}.
func (s *server) removeMaster(c *gin.Context) {
	if mm, ok := s.membership(c); ok {
		s.membersAnswer(c, http.StatusOK)(mm.RemoveMaster(c.Request.Context(), c.Param("name")))
	}
}

func (s *server) membersAnswer(c *gin.Context, status int) func([]EtcdMember, error) {
	return func(ms []EtcdMember, err error) {
		if err != nil {
			s.fail(c, err)
			return
		}
		if ms == nil {
			ms = []EtcdMember{}
		}
		s.ok(c, status, ms)
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
