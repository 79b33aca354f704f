package master

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A cluster backup (docs/operations.md, "Backup and restore") is a gzip'd
// tar of:
//
//	drover-backup.json   BackupManifest
//	etcd.db              an etcd snapshot (the client's Maintenance.Snapshot)
//	cluster/             cluster.json, pki/, secrets/, admin.token
//	templates/           the template store of the master that made it
//
// It holds the cluster CA key, the JWT signing key and the etcd root
// password: keep it as secret as the cluster directory.

// BackupFormat is the version of the backup layout.
const BackupFormat = 1

// Names inside a backup.
const (
	backupManifestName = "drover-backup.json"
	backupSnapshotName = "etcd.db"
	backupClusterDir   = "cluster/"
	backupTemplatesDir = "templates/"
)

// BackupManifest describes a backup.
type BackupManifest struct {
	Format      int       `json:"format"`
	Cluster     string    `json:"cluster"`
	ClusterUUID string    `json:"cluster_uuid"`
	CreatedAt   time.Time `json:"created_at"`
	// Master is the master that made the backup.
	Master string `json:"master"`
	// Revision is the etcd revision when the snapshot was taken.
	Revision int64 `json:"revision"`
	// SnapshotSHA256 and SnapshotSize describe etcd.db.
	SnapshotSHA256 string `json:"snapshot_sha256"`
	SnapshotSize   int64  `json:"snapshot_size"`
}

// backupClusterFiles are what of the cluster directory goes into a backup
// (not data/, the etcd members, nor what local up keeps beside them).
var backupClusterFiles = []string{"cluster.json", "pki", "secrets", "admin.token"}

// Backup writes a backup of the cluster to w (see above). The snapshot is
// spooled to a temporary file first, to know its size and digest.
func (m *Master) Backup(ctx context.Context, w io.Writer) error {
	if m.client == nil {
		return unavailable("backup", errors.New("no etcd client"))
	}
	snap, err := os.CreateTemp("", "drover-backup-*.db")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(snap.Name())
	defer snap.Close()
	st, err := m.client.Status(ctx, m.client.Endpoints()[0])
	if err != nil {
		return unavailable("backup: etcd status", err)
	}
	rc, err := m.client.Snapshot(ctx)
	if err != nil {
		return unavailable("backup: etcd snapshot", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(snap, h), rc)
	rc.Close()
	if err != nil {
		return unavailable("backup: etcd snapshot", err)
	}
	man := BackupManifest{
		Format: BackupFormat, Cluster: m.dir.Cluster.Name, ClusterUUID: m.dir.Cluster.UUID,
		CreatedAt: time.Now().UTC(), Master: m.cfg.Name, Revision: st.Header.Revision,
		SnapshotSHA256: hex.EncodeToString(h.Sum(nil)), SnapshotSize: n,
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	mb, _ := json.MarshalIndent(man, "", "  ")
	if err := tarBytes(tw, backupManifestName, append(mb, '\n'), 0o644); err != nil {
		return err
	}
	if _, err := snap.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := tarReader(tw, backupSnapshotName, snap, n, 0o600); err != nil {
		return err
	}
	for _, f := range backupClusterFiles {
		if err := tarTree(tw, filepath.Join(m.dir.Dir, f), backupClusterDir+f); err != nil {
			return err
		}
	}
	if err := tarTree(tw, m.templateDir(), strings.TrimSuffix(backupTemplatesDir, "/")); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	m.log.Info("backup_written", "revision", man.Revision, "snapshot_bytes", n)
	return nil
}

func tarBytes(tw *tar.Writer, name string, b []byte, mode int64) error {
	return tarReader(tw, name, strings.NewReader(string(b)), int64(len(b)), mode)
}

func tarReader(tw *tar.Writer, name string, r io.Reader, size, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: size, ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	if _, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	return nil
}

// tarTree adds the file or directory tree at src under name (regular files
// and directories only; a missing src adds nothing).
func tarTree(tw *tar.Writer, src, name string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == src {
			return nil
		}
		if err != nil {
			return fmt.Errorf("backup %s: %w", p, err)
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.ToSlash(filepath.Join(name, rel))
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("backup %s: %w", p, err)
		}
		switch {
		case e.IsDir():
			return tw.WriteHeader(&tar.Header{Name: dst + "/", Mode: int64(info.Mode().Perm()), ModTime: info.ModTime(), Typeflag: tar.TypeDir})
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("backup %s: %w", p, err)
			}
			defer f.Close()
			return tarReader(tw, dst, f, info.Size(), int64(info.Mode().Perm()))
		}
		return nil // sockets, locks, links: not part of a backup
	})
}
