package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// joinMarker, beside a master's data directory, says that its etcd member
// was added to a running cluster: the member starts with initial cluster
// state "existing" instead of bootstrapping a new cluster.
func (d *ClusterDir) joinMarker(name string) string {
	return filepath.Join(d.Dir, "data", name+".join")
}

// joining reports whether master name joins a running etcd cluster: its
// data directory does not exist yet and its join marker does.
func (d *ClusterDir) joining(name string) bool {
	if _, err := os.Stat(d.DataDir(name)); err == nil {
		return false
	}
	_, err := os.Stat(d.joinMarker(name))
	return err == nil
}

// AddMasterFiles writes what a new master needs into the cluster
// directory: its certificate and key (from the cluster CA, for its IP), its
// entry in cluster.json and its join marker. Run it after the master's etcd
// member was added (drover cluster add-master does both).
func (d *ClusterDir) AddMasterFiles(spec keys.MasterSpec) error {
	if _, err := d.Master(spec.Name); err == nil {
		return api.Errorf(api.CodeAlreadyExists, "master %s is in %s already", spec.Name, d.clusterFile())
	}
	ca, caKey, err := loadCA(d)
	if err != nil {
		return err
	}
	cert, key, err := newLeafCert(ca, caKey, spec.Name, spec.IP, d.Cluster.ClusterIPAddr())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(d.Dir, "data"), 0o700); err != nil {
		return err
	}
	for p, b := range map[string][]byte{d.CertFile(spec.Name): cert, d.KeyFile(spec.Name): key, d.joinMarker(spec.Name): nil} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return fmt.Errorf("add master %s: %w", spec.Name, err)
		}
	}
	d.Cluster.Masters = append(d.Cluster.Masters, spec)
	return d.saveCluster()
}

// RemoveMasterFiles drops a removed master from cluster.json and deletes
// its certificate, key, join marker and etcd data directory.
func (d *ClusterDir) RemoveMasterFiles(name string) error {
	if _, err := d.Master(name); err != nil {
		return api.Errorf(api.CodeUnknownEntity, "master %s is not in %s", name, d.clusterFile())
	}
	if len(d.Cluster.Masters) == 1 {
		return api.Errorf(api.CodeWrongState, "master %s is the last master of %s", name, d.clusterFile())
	}
	d.Cluster.Masters = slices.DeleteFunc(d.Cluster.Masters, func(s keys.MasterSpec) bool { return s.Name == name })
	if err := d.saveCluster(); err != nil {
		return err
	}
	for _, p := range []string{d.CertFile(name), d.KeyFile(name), d.joinMarker(name)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.RemoveAll(d.DataDir(name))
}

// saveCluster rewrites cluster.json (to a temporary file, then renamed).
func (d *ClusterDir) saveCluster() error {
	b, err := json.MarshalIndent(d.Cluster, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.clusterFile() + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, d.clusterFile())
}

// RenewMasterCert gives master name a new certificate and key from the
// cluster CA (valid for ten years from now). The key is written first, then
// the certificate, each through a rename; running masters pick the pair up
// at their next TLS handshakes (certReloader, etcd), without a restart.
func (d *ClusterDir) RenewMasterCert(name string) (time.Time, error) {
	spec, err := d.Master(name)
	if err != nil {
		return time.Time{}, api.Errorf(api.CodeUnknownEntity, "%v", err)
	}
	ca, caKey, err := loadCA(d)
	if err != nil {
		return time.Time{}, err
	}
	cert, key, err := newLeafCert(ca, caKey, spec.Name, spec.IP, d.Cluster.ClusterIPAddr())
	if err != nil {
		return time.Time{}, err
	}
	for _, f := range []struct {
		path string
		b    []byte
	}{{d.KeyFile(name), key}, {d.CertFile(name), cert}} {
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, f.b, 0o600); err != nil {
			return time.Time{}, err
		}
		if err := os.Rename(tmp, f.path); err != nil {
			return time.Time{}, err
		}
	}
	return time.Now().Add(certValidity), nil
}
