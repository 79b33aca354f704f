package master

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
	"github.com/drover-project/drover/templates"
)

// Template replication (docs/templates.md, "Every master holds every
// template"): every master, leading or not, copies into its own store each
// template version that has a record and that it lacks, from a master that
// holds it, and publishes what it holds under TemplateBlobKey bound to a
// lease of its own. It repairs itself at start (a master that joins or comes
// back), on every change of the template records, and every
// templateSyncInterval. Masters fetch from each other over the API port
// with their cluster certificates (peerBlobPath).
const (
	templateSyncInterval = 30 * time.Second
	// templateGCAge protects a stored version without a record (an import
	// or build between its store write and its record) from the clean-up.
	templateGCAge = 15 * time.Minute
	// templateRetryFirst is the wait before a pass that could not copy a
	// version runs again (doubling up to templateSyncInterval): a master
	// that sees a new record before its holder published its holding
	// (docs/install.md's test caught hv3 missing a fresh import for 30 s).
	templateRetryFirst = time.Second
)

// runTemplateSync keeps this master's store complete until ctx ends.
func (m *Master) runTemplateSync(ctx context.Context) {
	for ctx.Err() == nil {
		err := m.templateSyncSession(ctx)
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("template_sync_restart", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// templateSync is one lease session of the replication.
type templateSync struct {
	m         *Master
	s         *templates.Store
	lease     clientv3.LeaseID
	peers     *http.Client
	published map[string]bool // digests whose TemplateBlobKey is written
}

func (m *Master) templateSyncSession(ctx context.Context) error {
	s, err := m.templateStore()
	if err != nil {
		return err
	}
	peers, err := m.peerClient()
	if err != nil {
		return err
	}
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	lease, err := m.client.Grant(gctx, int64(max(m.cfg.SessionTTL, 2)))
	cancel()
	if err != nil {
		return fmt.Errorf("grant template lease: %w", err)
	}
	sess, err := concurrency.NewSession(m.client, concurrency.WithLease(lease.ID), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("template session: %w", err)
	}
	defer sess.Close()
	ts := &templateSync{m: m, s: s, lease: lease.ID, peers: peers, published: map[string]bool{}}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wch := m.client.Watch(wctx, keys.TemplatesPrefix, clientv3.WithPrefix())
	var retry <-chan time.Time
	delay := templateRetryFirst
	run := func() {
		retry = nil
		if ts.pass(ctx) {
			delay = templateRetryFirst
			return
		}
		retry = time.After(delay)
		delay = min(2*delay, templateSyncInterval)
	}
	run()
	tick := time.NewTicker(templateSyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-retry:
			run()
		case <-ctx.Done():
			return nil
		case <-sess.Done():
			return errors.New("template lease lost")
		case wr, ok := <-wch:
			if !ok {
				return errors.New("template watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("template watch: %w", err)
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					ts.dropRecord(string(ev.Kv.Key))
				}
			}
			run()
		case <-tick.C:
			run()
		}
	}
}

// pass copies what is missing, drops what no record names and publishes
// what the store holds. It reports whether the store is complete.
func (ts *templateSync) pass(ctx context.Context) bool {
	m := ts.m
	recs, err := m.templateRecords(ctx, "")
	if err != nil {
		m.log.Warn("template_sync_failed", "error", err)
		return false
	}
	complete := true
	named := map[string]bool{}
	for _, r := range recs {
		named[refString(r.Name, r.Version)] = true
		if ts.s.Has(r.Digest) {
			if _, err := ts.s.Get(refString(r.Name, r.Version)); err == nil {
				continue
			}
		}
		if err := ts.replicate(ctx, r); err != nil {
			complete = false
			m.log.Warn("template_replicate_failed", "template", refString(r.Name, r.Version), "digest", r.Digest, "error", err)
		}
	}
	ts.collect(named)
	held := map[string]bool{}
	for _, r := range recs {
		if ts.s.Has(r.Digest) {
			held[r.Digest] = true
		}
	}
	for d := range held {
		if ts.published[d] {
			continue
		}
		pctx, cancel := store.WithTimeout(ctx)
		_, err := m.client.Put(pctx, keys.TemplateBlobKey(m.cfg.Name, d), time.Now().UTC().Format(time.RFC3339), clientv3.WithLease(ts.lease))
		cancel()
		if err != nil {
			m.log.Warn("template_holding_publish_failed", "digest", d, "error", err)
			continue
		}
		ts.published[d] = true
	}
	for d := range ts.published {
		if held[d] {
			continue
		}
		dctx, cancel := store.WithTimeout(ctx)
		_, err := m.client.Delete(dctx, keys.TemplateBlobKey(m.cfg.Name, d))
		cancel()
		if err == nil {
			delete(ts.published, d)
		}
	}
	return complete
}

// replicate copies template version r from a master that holds it.
func (ts *templateSync) replicate(ctx context.Context, r keys.TemplateRecord) error {
	var mf templates.Manifest
	if err := json.Unmarshal(r.Manifest, &mf); err != nil {
		return fmt.Errorf("manifest of %s@%d: %w", r.Name, r.Version, err)
	}
	holders, err := ts.m.templateHolders(ctx, r.Digest)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range holders {
		if h.name == ts.m.cfg.Name {
			continue
		}
		err := ts.fetchFrom(ctx, h.apiURL, mf)
		if err == nil {
			ts.m.log.Info("template_replicated", "template", mf.Ref(), "digest", r.Digest, "from", h.name)
			return nil
		}
		errs = append(errs, fmt.Errorf("from %s: %w", h.name, err))
	}
	if len(errs) == 0 {
		return errors.New("no running master holds it")
	}
	return errors.Join(errs...)
}

func (ts *templateSync) fetchFrom(ctx context.Context, base string, mf templates.Manifest) error {
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	resp, err := templates.GetBlob(ctx, ts.peers, base+peerBlobPath+mf.Digest(), "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return ts.s.Replicate(ctx, mf, resp.Body)
}

// dropRecord removes this master's copy of a template version whose record
// was deleted.
func (ts *templateSync) dropRecord(key string) {
	rest, ok := strings.CutPrefix(key, keys.TemplatesPrefix)
	name, ver, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return
	}
	var v int
	if _, err := fmt.Sscanf(ver, "%d", &v); err != nil || v <= 0 {
		return
	}
	ref := refString(name, v)
	if err := ts.s.Remove(ref); err != nil && !errors.Is(err, templates.ErrNotFound) {
		ts.m.log.Warn("template_copy_remove_failed", "template", ref, "error", err)
		return
	}
	ts.m.log.Info("template_copy_removed", "template", ref)
}

// collect removes stored versions that no record names (missed deletes),
// unless they are recent (an import or build in progress).
func (ts *templateSync) collect(named map[string]bool) {
	all, err := ts.s.List()
	if err != nil {
		return
	}
	for _, mf := range all {
		if named[mf.Ref()] {
			continue
		}
		p, err := ts.s.BlobPath(mf.Digest())
		if err != nil {
			continue
		}
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) < templateGCAge {
			continue
		}
		if err := ts.s.Remove(mf.Ref()); err == nil {
			ts.m.log.Info("template_copy_removed", "template", mf.Ref(), "reason", "no record")
		}
	}
}

// templateHolder is a running master whose store holds a blob.
type templateHolder struct{ name, apiURL string }

// templateHolders lists the running masters that hold digest, this master
// first, then by name.
func (m *Master) templateHolders(ctx context.Context, digest string) ([]templateHolder, error) {
	held, err := m.templateHoldings(ctx)
	if err != nil {
		return nil, err
	}
	var out []templateHolder
	for name, ds := range held {
		if !ds[digest] {
			continue
		}
		h := templateHolder{name: name}
		if name == m.cfg.Name {
			h.apiURL = m.apiURL()
		} else {
			var mr keys.MasterRecord
			if _, err := store.GetJSON(ctx, m.client, keys.MasterKey(name), &mr); err != nil || mr.APIURL == "" {
				continue
			}
			h.apiURL = mr.APIURL
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].name == m.cfg.Name) != (out[j].name == m.cfg.Name) {
			return out[i].name == m.cfg.Name
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

// templateHoldings reads which running master holds which digests.
func (m *Master) templateHoldings(ctx context.Context) (map[string]map[string]bool, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.TemplateBlobsPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, unavailable("read template holdings", err)
	}
	out := map[string]map[string]bool{}
	for _, kv := range resp.Kvs {
		name, digest, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), keys.TemplateBlobsPrefix), "/")
		if !ok {
			continue
		}
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		out[name][digest] = true
	}
	return out, nil
}

// templateURLs are the blob URLs an agent may fetch template t from: every
// running master that holds it, this one first; the agent tries them in turn
// (and the masters of its credentials after them).
func (m *Master) templateURLs(ctx context.Context, t *keys.TemplateRecord) []string {
	holders, err := m.templateHolders(ctx, t.Digest)
	if err != nil {
		m.log.Warn("template_holders_unknown", "digest", t.Digest, "error", err)
	}
	var out []string
	for _, h := range holders {
		out = append(out, h.apiURL+api.APIPrefix+"/templates/blobs/"+t.Digest)
	}
	return out
}

// peerClient is the HTTPS client a master uses to reach the others: it
// trusts the cluster CA and presents this master's certificate.
func (m *Master) peerClient() (*http.Client, error) {
	cfg, err := clientTLS(m.dir.CAFile(), nil, nil)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(m.dir.CertFile(m.cfg.Name), m.dir.KeyFile(m.cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("%w: master certificate: %w", ErrClusterDir, err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr}, nil
}
