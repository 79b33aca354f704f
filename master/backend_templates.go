package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
	"github.com/drover-project/drover/templates"
)

// templateDir is where this master keeps its template store.
func (m *Master) templateDir() string {
	return filepath.Join(m.dir.Dir, "templates", m.cfg.Name)
}

// templateStore opens (once) this master's template store.
func (m *Master) templateStore() (*templates.Store, error) {
	m.tstoreOnce.Do(func() {
		m.tstore, m.tstoreErr = templates.OpenStore(m.templateDir(), m.log.With("part", "templates"))
	})
	if m.tstoreErr != nil {
		return nil, fmt.Errorf("template store: %w", m.tstoreErr)
	}
	return m.tstore, nil
}

// templateError maps templates package errors to API codes.
func templateError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, templates.ErrNotFound):
		return api.Errorf(api.CodeUnknownEntity, "%v", err)
	case errors.Is(err, templates.ErrExists):
		return api.Errorf(api.CodeAlreadyExists, "%v", err)
	case errors.Is(err, templates.ErrInvalid), errors.Is(err, templates.ErrNotRootfs), errors.Is(err, templates.ErrChecksum):
		return api.Errorf(api.CodeWrongInput, "%v", err)
	case errors.Is(err, templates.ErrToolMissing):
		return api.Errorf(api.CodeWrongState, "%v", err)
	}
	return err
}

// templateRecords lists the records of template name (every name if ""),
// oldest version first.
func (m *Master) templateRecords(ctx context.Context, name string) ([]keys.TemplateRecord, error) {
	prefix := keys.TemplatesPrefix
	if name != "" {
		prefix += name + "/"
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, unavailable("list templates", err)
	}
	out := make([]keys.TemplateRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r keys.TemplateRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// resolveTemplate finds "name" (latest) or "name@version".
func (m *Master) resolveTemplate(ctx context.Context, ref string) (*keys.TemplateRecord, error) {
	if t, ok := osDefinitionRecord(ref); ok {
		return t, nil
	}
	name, version, err := templates.ParseRef(ref)
	if err != nil {
		return nil, api.Errorf(api.CodeWrongInput, "%v", err)
	}
	recs, err := m.templateRecords(ctx, name)
	if err != nil {
		return nil, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if version == 0 || recs[i].Version == version {
			return &recs[i], nil
		}
	}
	return nil, api.Errorf(api.CodeUnknownEntity, "template %s not found", ref)
}

// templateView turns a record into the API's Template.
func templateView(r keys.TemplateRecord, withManifest bool) api.Template {
	t := api.Template{Name: r.Name, Version: r.Version, Digest: r.Digest, Master: r.Master, CreatedAt: r.CreatedAt}
	var mf templates.Manifest
	if json.Unmarshal(r.Manifest, &mf) == nil {
		t.Size, t.Suite, t.Variant, t.Includes, t.Tool = mf.Size, mf.Suite, mf.Variant, mf.Includes, mf.Tool
		t.Packages, t.BuildDate = len(mf.Packages), mf.BuildDate
	}
	if withManifest {
		t.Manifest = r.Manifest
	}
	return t
}

// templateRecordOf makes the record of a stored manifest.
func (m *Master) templateRecordOf(mf templates.Manifest) (keys.TemplateRecord, error) {
	raw, err := json.Marshal(mf)
	if err != nil {
		return keys.TemplateRecord{}, err
	}
	return keys.TemplateRecord{
		Name: mf.Name, Version: mf.Version, Digest: mf.Digest(), Manifest: raw,
		Master: m.cfg.Name, CreatedAt: time.Now().UTC(),
	}, nil
}

// ListTemplates implements api.InstanceBackend.
func (m *Master) ListTemplates(ctx context.Context) ([]api.Template, error) {
	recs, err := m.templateRecords(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]api.Template, 0, len(recs))
	for _, r := range recs {
		out = append(out, templateView(r, false))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// GetTemplate implements api.InstanceBackend.
func (m *Master) GetTemplate(ctx context.Context, ref string) (*api.Template, error) {
	r, err := m.resolveTemplate(ctx, ref)
	if err != nil {
		return nil, err
	}
	t := templateView(*r, true)
	return &t, nil
}

// ImportTemplate implements api.InstanceBackend: the tarball goes into this
// master's store, and its record into etcd (create-if-absent; any master
// may import, as users and tokens are written by any master).
func (m *Master) ImportTemplate(ctx context.Context, by api.Principal, name string, r io.Reader) (*api.Template, error) {
	s, err := m.templateStore()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	mf, err := s.Import(ctx, name, r, nil)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err // the route answers 413
		}
		return nil, templateError(err)
	}
	rec, err := m.templateRecordOf(mf)
	if err != nil {
		return nil, err
	}
	ok, err := store.CreateJSON(ctx, m.client, keys.TemplateKey(rec.Name, rec.Version), rec)
	if err != nil || !ok {
		_ = s.Remove(mf.Ref())
		if err != nil {
			return nil, unavailable("record template", err)
		}
		return nil, api.Errorf(api.CodeAlreadyExists, "template %s is already registered (by another master)", mf.Ref())
	}
	m.log.Info("template_imported", "template", mf.Ref(), "digest", rec.Digest, "size", mf.Size, "by", by.User)
	t := templateView(rec, false)
	return &t, nil
}

// OpenTemplateBlob implements api.InstanceBackend.
func (m *Master) OpenTemplateBlob(ctx context.Context, digest string) (io.ReadCloser, int64, error) {
	s, err := m.templateStore()
	if err != nil {
		return nil, 0, err
	}
	rc, size, err := s.Open(digest)
	if err != nil {
		if errors.Is(err, templates.ErrNotFound) {
			return nil, 0, api.Errorf(api.CodeUnknownEntity, "template blob %s is not on master %s", digest, m.cfg.Name)
		}
		return nil, 0, templateError(err)
	}
	return rc, size, nil
}

// CheckNodeToken implements api.InstanceBackend: a node token must be
// recorded, unrevoked, for subject "node.<name>" of an existing node.
func (m *Master) CheckNodeToken(ctx context.Context, p api.Principal) error {
	node, ok := strings.CutPrefix(p.User, "node.")
	if !ok || p.Role != api.RoleNode {
		return api.Errorf(api.CodeUnauthorized, "not a node token")
	}
	var r keys.TokenRecord
	if _, err := store.GetJSON(ctx, m.client, keys.TokenKey(p.TokenID), &r); err != nil {
		return refuse(err)
	}
	if r.Revoked || r.User != p.User || r.Role != api.RoleNode {
		return errTokenRefused
	}
	exists, err := m.nodeExists(ctx, node)
	if err != nil {
		return err
	}
	if !exists {
		return errTokenRefused
	}
	return nil
}
