package master

import (
	"crypto/tls"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/drover-project/drover/api"
)

// peerBlobPath is where a master serves template blobs to the other masters
// (template replication). Only a client that presents a certificate of the
// cluster CA whose common name is one of the cluster's masters gets them.
const peerBlobPath = "/internal/v1/templates/blobs/"

// withPeerRoutes serves peerBlobPath and hands every other request to h.
func (m *Master) withPeerRoutes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		digest, ok := strings.CutPrefix(r.URL.Path, peerBlobPath)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !m.isPeerMaster(r.TLS) {
			http.Error(w, "a master certificate of this cluster is required", http.StatusUnauthorized)
			return
		}
		rc, size, err := m.OpenTemplateBlob(r.Context(), digest)
		if err != nil {
			code := http.StatusInternalServerError
			switch api.CodeOf(err) {
			case api.CodeUnknownEntity:
				code = http.StatusNotFound
			case api.CodeWrongInput:
				code = http.StatusBadRequest
			}
			http.Error(w, err.Error(), code)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		if _, err := io.Copy(w, rc); err != nil {
			m.log.Warn("peer_blob_send_failed", "digest", digest, "error", err)
		}
	})
}

// isPeerMaster reports whether the TLS client verified against the cluster
// CA and names one of the cluster's masters.
func (m *Master) isPeerMaster(cs *tls.ConnectionState) bool {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return false
	}
	cn := cs.VerifiedChains[0][0].Subject.CommonName
	for _, spec := range m.dir.Cluster.Masters {
		if spec.Name == cn {
			return true
		}
	}
	return false
}
