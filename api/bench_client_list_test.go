package api

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchPage is a page of n instances as the scale bench's simulated
// cluster lists them (diskless, fake hypervisor, one NIC, a reported
// state), encoded as the server encodes it.
func benchPage(tb testing.TB, n int, fields []string) []byte {
	tb.Helper()
	at := time.Date(2026, 12, 1, 15, 0, 0, 123456789, time.UTC)
	enc := make([]*EncodedInstance, n)
	for i := range enc {
		in := Instance{Name: fmt.Sprintf("i%05d", i), UUID: fmt.Sprintf("6f1c2a9e-0b7d-4c3e-9a51-%012d", i),
			PrimaryNode: fmt.Sprintf("sim%d", i%1000+1), OS: "tiny", OSVersion: 1, Hypervisor: "fake", DiskTemplate: "diskless",
			NICs: []InstanceNIC{{MAC: fmt.Sprintf("aa:00:00:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255)}}, VCPUs: 1, MemoryMiB: 128,
			AdminState: "up", Status: InstRunning, OperState: "running", ObservedAt: &at, CreatedAt: at}
		var err error
		if enc[i], err = NewEncodedInstance(in); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := encodeInstanceList(enc, fields)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkClientList10000 measures what a Go client pays for a page of
// 10,000 instances (docs/scale.md, "The client side"): decoding the
// answer alone, and ListInstancesPage against a local HTTPS server that
// answers the page's bytes (TLS, HTTP/2, reading and decoding; no master).
func BenchmarkClientList10000(b *testing.B) {
	for _, bc := range []struct {
		name   string
		fields []string
	}{{"full", nil}, {"fields", []string{"name", "status", "primary_node"}}} {
		page := benchPage(b, 10000, bc.fields)
		b.Run("unmarshal-"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				var out []Instance
				if err := json.Unmarshal(page, &out); err != nil || len(out) != 10000 {
					b.Fatal(len(out), err)
				}
			}
		})
		b.Run("decode-"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				out, err := decodeInstanceList(page, 10000)
				if err != nil || len(out) != 10000 {
					b.Fatal(len(out), err)
				}
			}
		})
		b.Run("http-"+bc.name, func(b *testing.B) {
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(page)
			}))
			ts.EnableHTTP2 = true
			ts.StartTLS()
			defer ts.Close()
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
			c, err := NewClient([]string{ts.URL}, "t", ca)
			if err != nil {
				b.Fatal(err)
			}
			q := InstanceQuery{Limit: 10000, Fields: bc.fields}
			b.ReportAllocs()
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				got, _, err := c.ListInstancesPage(context.Background(), q)
				if err != nil || len(got) != 10000 {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}
