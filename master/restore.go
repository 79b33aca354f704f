package master

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// RestoreOptions say where a backup is restored.
type RestoreOptions struct {
	// Backup is the backup file (drover cluster backup).
	Backup string
	// Dir is the new cluster directory; it must not hold a cluster yet.
	Dir string
	// Masters are the masters whose etcd data directory and template
	// store are made here (default: all of cluster.json, as local up
	// keeps them in one directory; on real hosts each master restores its
	// own with its name).
	Masters []string
}

// RestoreResult says what was restored.
type RestoreResult struct {
	Manifest BackupManifest
	Masters  []string
}

// Restore makes a cluster directory from a backup: the cluster files, and
// for each master an etcd data directory restored from the snapshot (a new
// etcd cluster of the masters in cluster.json, with its own cluster ID; the
// keyspace, users and roles are those of the snapshot) and a copy of the
// template store. Started with `drover master`, the masters resume where
// the snapshot was taken. Nothing is left in Dir when it fails.
func Restore(o RestoreOptions) (res *RestoreResult, err error) {
	if _, err := os.Stat(filepath.Join(o.Dir, "cluster.json")); err == nil {
		return nil, api.Errorf(api.CodeAlreadyExists, "restore: %s already holds a cluster (cluster.json)", o.Dir)
	}
	if ents, err := os.ReadDir(o.Dir); err == nil && len(ents) > 0 {
		return nil, api.Errorf(api.CodeAlreadyExists, "restore: %s is not empty", o.Dir)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if err != nil {
			cleanDir(o.Dir)
		}
	}()
	stage, err := os.MkdirTemp(o.Dir, ".restore-")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)
	man, err := unpackBackup(o.Backup, stage)
	if err != nil {
		return nil, err
	}
	for _, f := range backupClusterFiles {
		if err := moveIfExists(filepath.Join(stage, backupClusterDir, f), filepath.Join(o.Dir, f)); err != nil {
			return nil, err
		}
	}
	d, err := LoadClusterDir(o.Dir)
	if err != nil {
		return nil, api.Errorf(api.CodeWrongInput, "restore: the backup's cluster directory: %v", err)
	}
	if d.Cluster.UUID != man.ClusterUUID {
		return nil, api.Errorf(api.CodeWrongInput, "restore: cluster.json is of cluster %s, the snapshot of %s", d.Cluster.UUID, man.ClusterUUID)
	}
	names := o.Masters
	if len(names) == 0 {
		for _, m := range d.Cluster.Masters {
			names = append(names, m.Name)
		}
	}
	initial := initialCluster(d.Cluster.Masters)
	for _, name := range names {
		me, err := d.Master(name)
		if err != nil {
			return nil, api.Errorf(api.CodeUnknownEntity, "restore: %v", err)
		}
		if err := os.MkdirAll(filepath.Join(o.Dir, "data"), 0o700); err != nil {
			return nil, err
		}
		err = snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
			SnapshotPath: filepath.Join(stage, backupSnapshotName), Name: me.Name, OutputDataDir: d.DataDir(me.Name),
			PeerURLs: []string{peerURL(me)}, InitialCluster: initial, InitialClusterToken: "drover-" + d.Cluster.UUID,
		})
		if err != nil {
			return nil, fmt.Errorf("restore: etcd data of %s: %w", me.Name, err)
		}
		if err := copyTree(filepath.Join(stage, backupTemplatesDir), filepath.Join(o.Dir, "templates", me.Name)); err != nil {
			return nil, err
		}
	}
	return &RestoreResult{Manifest: *man, Masters: names}, nil
}

func peerURL(m keys.MasterSpec) string {
	return "https://" + net.JoinHostPort(m.IP, fmt.Sprint(m.PeerPort))
}

// initialCluster is etcd's initial-cluster of the masters.
func initialCluster(ms []keys.MasterSpec) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, m.Name+"="+peerURL(m))
	}
	return strings.Join(parts, ",")
}

// unpackBackup checks and unpacks a backup into dir and returns its
// manifest; the snapshot's digest must match.
func unpackBackup(file, dir string) (*BackupManifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, api.Errorf(api.CodeWrongInput, "restore: %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, api.Errorf(api.CodeWrongInput, "restore: %s is not a drover backup: %v", file, err)
	}
	tr := tar.NewReader(gz)
	var man *BackupManifest
	h := sha256.New()
	var snapSize int64
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, api.Errorf(api.CodeWrongInput, "restore: %s: %v", file, err)
		}
		name := path.Clean(hd.Name)
		if name == ".." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return nil, api.Errorf(api.CodeWrongInput, "restore: %s: member %q outside the backup", file, hd.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch hd.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return nil, err
			}
			out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(hd.Mode).Perm()|0o600)
			if err != nil {
				return nil, err
			}
			var w io.Writer = out
			if name == backupSnapshotName {
				w = io.MultiWriter(out, h)
			}
			n, err := io.Copy(w, tr)
			out.Close()
			if err != nil {
				return nil, api.Errorf(api.CodeWrongInput, "restore: %s: %s: %v", file, name, err)
			}
			if name == backupSnapshotName {
				snapSize = n
			}
			if name == backupManifestName {
				b, _ := os.ReadFile(dst)
				man = &BackupManifest{}
				if err := json.Unmarshal(b, man); err != nil {
					return nil, api.Errorf(api.CodeWrongInput, "restore: %s: %v", backupManifestName, err)
				}
			}
		default:
			return nil, api.Errorf(api.CodeWrongInput, "restore: %s: member %q is not a file or directory", file, hd.Name)
		}
	}
	switch {
	case man == nil:
		return nil, api.Errorf(api.CodeWrongInput, "restore: %s has no %s: not a drover backup", file, backupManifestName)
	case man.Format != BackupFormat:
		return nil, api.Errorf(api.CodeWrongInput, "restore: backup format %d, this drover reads %d", man.Format, BackupFormat)
	case snapSize != man.SnapshotSize || hex.EncodeToString(h.Sum(nil)) != man.SnapshotSHA256:
		return nil, api.Errorf(api.CodeWrongInput, "restore: %s: the etcd snapshot does not match its digest (%d bytes): the backup is damaged", file, snapSize)
	}
	return man, nil
}

func moveIfExists(src, dst string) error {
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) && p == src {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(t, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// cleanDir empties dir after a failed restore (dir itself stays).
func cleanDir(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
