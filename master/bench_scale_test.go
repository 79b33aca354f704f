package master_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// writeScaleState writes nodes node0000.. (each with a status) and
// instances inst00000.. (records and running domains) straight into etcd:
// the state of a cluster of that size, without its agents.
func writeScaleState(b *testing.B, cli *clientv3.Client, nodes, instances int) {
	cx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var ops []clientv3.Op
	flush := func() {
		if _, err := cli.Txn(cx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	put := func(k string, v any) {
		j, _ := json.Marshal(v)
		ops = append(ops, clientv3.OpPut(k, string(j)))
		if len(ops) == 100 {
			flush()
		}
	}
	now := time.Now().UTC()
	for i := range nodes {
		n := fmt.Sprintf("node%04d", i)
		put(keys.NodeKey(n), keys.NodeRecord{Name: n, UUID: n, Group: "default", VMCapable: true, AddedAt: now})
		put(keys.NodeStatusKey(n), keys.NodeStatus{Hypervisor: "fake", HypervisorOK: true, PublishedAt: now,
			Resources: api.NodeResources{CPUs: 16, MemoryTotalMiB: 65536, MemoryFreeMiB: 60000}})
	}
	for i := range instances {
		name, node := fmt.Sprintf("inst%05d", i), fmt.Sprintf("node%04d", i%nodes)
		uuid := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		put(keys.InstanceKey(name), keys.InstanceRecord{Name: name, UUID: uuid, PrimaryNode: node, OS: "tiny", OSVersion: 1,
			Hypervisor: "fake", DiskTemplate: "diskless", VCPUs: 1, MemoryMiB: 128, AdminUp: true, CreatedAt: now,
			NICs: []keys.NICSpec{{MAC: fmt.Sprintf("aa:00:00:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255)}}})
		put(keys.NodeDomainKey(node, name), keys.DomainStatus{Instance: name, State: keys.DomainRunning, UUID: uuid, ObservedAt: now})
	}
	flush()
}

// serverTimes records the duration the masters log for each GET /instances
// (from the request to the last byte of the answer written).
type serverTimes struct {
	mu   sync.Mutex
	took []time.Duration
}

func (s *serverTimes) Enabled(context.Context, slog.Level) bool { return true }
func (s *serverTimes) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *serverTimes) WithGroup(string) slog.Handler            { return s }
func (s *serverTimes) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "http request" {
		return nil
	}
	var path string
	var d time.Duration
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "path":
			path = a.Value.String()
		case "duration":
			d = a.Value.Duration()
		}
		return true
	})
	if path == api.APIPrefix+"/instances" {
		s.mu.Lock()
		s.took = append(s.took, d)
		s.mu.Unlock()
	}
	return nil
}

// p99 returns the p99 of the durations recorded since the last call.
func (s *serverTimes) p99() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.took
	s.took = nil
	if len(t) == 0 {
		return 0
	}
	slices.Sort(t)
	return float64(t[len(t)*99/100].Microseconds()) / 1000
}

// BenchmarkInstanceList20000 lists pages of 10,000 of 20,000 instances on
// 1,000 nodes through the HTTPS API (client side: request, JSON decode),
// from a follower of three masters; it reports the p99 of each shape as the
// client sees it and as the master logs it.
func BenchmarkInstanceList20000(b *testing.B) {
	st := &serverTimes{}
	c := mastertest.Start(b, mastertest.Options{Masters: 3, API: true, Log: slog.New(st)})
	c.WaitHealthy(30 * time.Second)
	l := c.Leader()
	cli := c.Masters[l].M.Client()
	writeScaleState(b, cli, 1000, 20000)
	if sr, err := cli.Status(b.Context(), cli.Endpoints()[0]); err == nil {
		b.Logf("etcd database with 1,000 nodes and 20,000 instances: %.1f MiB (%.1f MiB in use)",
			float64(sr.DbSize)/(1<<20), float64(sr.DbSizeInUse)/(1<<20))
	}
	f := c.Masters[(l+1)%3].M
	tok, _ := c.AdminToken()
	ca, err := os.ReadFile(c.Dir + "/pki/ca.crt")
	if err != nil {
		b.Fatal(err)
	}
	cl, err := api.NewClient([]string{"https://" + f.APIAddr()}, tok, ca)
	if err != nil {
		b.Fatal(err)
	}
	raw := rawLister(b, "https://"+f.APIAddr(), tok, ca, true)
	raw1 := rawLister(b, "https://"+f.APIAddr(), tok, ca, false)
	for _, tc := range []struct {
		name string
		q    api.InstanceQuery
		want int
	}{
		{"full", api.InstanceQuery{Limit: 10000}, 10000},
		{"full-page1000", api.InstanceQuery{Limit: 1000}, 1000},
		{"fields", api.InstanceQuery{Limit: 10000, Fields: []string{"name", "status", "primary_node"}}, 10000},
		{"node", api.InstanceQuery{Limit: 10000, Filter: map[string]string{"node": "node0007"}}, 20},
		{"prefix+status", api.InstanceQuery{Limit: 10000, Filter: map[string]string{"name_prefix": "inst019", "status": "running"}}, 100},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// One request first: the master encodes each instance's JSON at
			// its first list after a change; that one is timed apart.
			t0 := time.Now()
			if _, _, err := cl.ListInstancesPage(b.Context(), tc.q); err != nil {
				b.Fatal(err)
			}
			first := time.Since(t0)
			st.p99() // forget earlier requests
			var took, ttlb, ttlb1 []time.Duration
			for b.Loop() {
				t0 := time.Now()
				page, _, err := cl.ListInstancesPage(b.Context(), tc.q)
				if err != nil || len(page) != tc.want {
					b.Fatalf("%d instances, want %d: %v", len(page), tc.want, err)
				}
				took = append(took, time.Since(t0))
				ttlb = append(ttlb, raw(tc.q))
				ttlb1 = append(ttlb1, raw1(tc.q))
			}
			b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
			b.ReportMetric(p99(took), "client-p99-ms")
			b.ReportMetric(p99(ttlb), "ttlb-p99-ms")
			b.ReportMetric(p99(ttlb1), "ttlb-http1-p99-ms")
			b.ReportMetric(st.p99(), "server-p99-ms")
		})
	}
}

// p99 is the p99 of t in milliseconds.
func p99(t []time.Duration) float64 {
	slices.Sort(t)
	return float64(t[len(t)*99/100].Microseconds()) / 1000
}

// rawLister returns a func that times GET /instances with q until the last
// byte of the answer has arrived (what curl shows, without decoding it
// into structs as api.Client does), over its own HTTPS connection (HTTP/2
// as api.Client, or HTTP/1.1).
func rawLister(b *testing.B, base, tok string, ca []byte, h2 bool) func(q api.InstanceQuery) time.Duration {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		b.Fatal("no CA certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no HTTP/2
	}
	hc := &http.Client{Transport: tr}
	return func(q api.InstanceQuery) time.Duration {
		v := url.Values{}
		if len(q.Fields) > 0 {
			v.Set("fields", strings.Join(q.Fields, ","))
		}
		for k, val := range q.Filter {
			v.Set(k, val)
		}
		v.Set("limit", strconv.Itoa(q.Limit))
		req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, base+api.APIPrefix+"/instances?"+v.Encode(), nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if err != nil || resp.StatusCode != http.StatusOK || n < 2 {
			b.Fatalf("raw GET: %s, %d bytes, %v", resp.Status, n, err)
		}
		return d
	}
}

// BenchmarkLeaderHandover20000 crashes the leader of three masters holding
// 20,000 instances on 1,000 nodes and measures until another master leads
// and until it has run a job submitted right after the crash.
func BenchmarkLeaderHandover20000(b *testing.B) {
	c := mastertest.Start(b, mastertest.Options{Masters: 3})
	c.WaitHealthy(30 * time.Second)
	writeScaleState(b, c.Masters[c.Leader()].M.Client(), 1000, 20000)
	op := mastertest.Op(b, api.OpDebugDelay, api.DebugDelay{Duration: "0s"})
	var lead, job time.Duration
	b.ResetTimer()
	for b.Loop() {
		l := c.WaitLeader(10 * time.Second)
		start := time.Now()
		c.Masters[l].M.Crash()
		other := c.Masters[(l+1)%3].M
		id := mastertest.Submit(b, other, 0, op)
		c.WaitLeaderOther(l, 30*time.Second)
		lead += time.Since(start)
		if j := mastertest.WaitJob(b, other, id, time.Minute); j.State != api.JobSuccess {
			b.Fatalf("job after handover: %s", j.State)
		}
		job += time.Since(start)
		b.StopTimer()
		c.Kill(l)
		c.Restart(l)
		c.WaitHealthy(30 * time.Second)
		b.StartTimer()
	}
	b.ReportMetric(float64(lead.Milliseconds())/float64(b.N), "ms/new-leader")
	b.ReportMetric(float64(job.Milliseconds())/float64(b.N), "ms/first-job")
}
