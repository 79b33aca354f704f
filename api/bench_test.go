package api_test

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/drover-project/drover/api"
)

// BenchmarkListNodes1000 measures GET /nodes through the handler (auth,
// filters, JSON) with 1,000 nodes in the in-memory backend.
func BenchmarkListNodes1000(b *testing.B) {
	for _, q := range []string{"", "?fields=name,status&status=online"} {
		b.Run("query="+q, func(b *testing.B) {
			fx := newFixture(b)
			for i := range 1000 {
				fx.b.AddNode(api.Node{Name: fmt.Sprintf("node%04d", i), Group: "default", Tags: []string{"rack1"}})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/api/v1/nodes"+q, nil)
				req.Header.Set("Authorization", "Bearer "+fx.reader)
				if rec := serve(fx.h, req); rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkSubmitJob measures POST /debug/delay (auth, strict decoding,
// validation, submit) against the in-memory backend.
func BenchmarkSubmitJob(b *testing.B) {
	fx := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		rec := fx.doString("POST", "/api/v1/debug/delay", fx.operate, `{"duration":"0s"}`)
		if rec.Code != 202 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}
