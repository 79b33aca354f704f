package api

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkInstanceListEncode10000 compares, in one run, the two ways of
// making the answer of a list of 10,000 instances: encoding the page as a
// whole (as before; "marshal", "fields-maps") and concatenating the
// encodings each instance keeps ("encoded", "fields-encoded", after their
// first use), and what gzip of the whole answer would cost.
func BenchmarkInstanceListEncode10000(b *testing.B) {
	at := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	page := make([]Instance, 10000)
	enc := make([]*EncodedInstance, len(page))
	for i := range page {
		page[i] = Instance{Name: fmt.Sprintf("inst%05d", i), UUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i),
			PrimaryNode: fmt.Sprintf("node%04d", i%1000), OS: "tiny", OSVersion: 1, Hypervisor: "fake", DiskTemplate: "diskless",
			NICs: []InstanceNIC{{MAC: "aa:00:00:00:00:01"}}, VCPUs: 1, MemoryMiB: 128, AdminState: "up", Status: InstRunning,
			OperState: "running", ObservedAt: &at, CreatedAt: at}
		var err error
		if enc[i], err = NewEncodedInstance(page[i]); err != nil {
			b.Fatal(err)
		}
	}
	fields := []string{"name", "status", "primary_node"}
	maps := func() []map[string]any {
		out := make([]map[string]any, 0, len(page))
		for i := range page {
			out = append(out, map[string]any{"name": page[i].Name, "status": page[i].Status, "primary_node": page[i].PrimaryNode})
		}
		return out
	}
	var size int
	for _, bc := range []struct {
		name string
		f    func() ([]byte, error)
	}{
		{"marshal", func() ([]byte, error) { return json.Marshal(page) }},
		{"encoded", func() ([]byte, error) { return encodeInstanceList(enc, nil) }},
		{"fields-maps", func() ([]byte, error) { return json.Marshal(maps()) }},
		{"fields-encoded", func() ([]byte, error) { return encodeInstanceList(enc, fields) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := bc.f()
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size)/(1<<20), "MiB")
		})
	}
	whole, _ := encodeInstanceList(enc, nil)
	b.Run("gzip-of-encoded", func(b *testing.B) {
		for b.Loop() {
			zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
			if _, err := zw.Write(whole); err != nil {
				b.Fatal(err)
			}
			_ = zw.Close()
		}
	})
}
