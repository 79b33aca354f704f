package master

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate of certFile/keyFile and loads it
// again when either file changes (looked at no more than once a second), so
// that `drover cluster renew-certs` takes effect without a restart. A pair
// that does not load (caught between the two renames) keeps the old one.
// etcd's embedded member reads its files at every handshake by itself.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cur     *tls.Certificate
	stamp   string
	checked time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cur, r.stamp, r.checked = &c, r.fileStamp(), time.Now()
	return r, nil
}

func (r *certReloader) fileStamp() string {
	var s string
	for _, p := range []string{r.certFile, r.keyFile} {
		if st, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%d.%d;", st.ModTime().UnixNano(), st.Size())
		}
	}
	return s
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= time.Second {
		r.checked = time.Now()
		if st := r.fileStamp(); st != r.stamp {
			if c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile); err == nil {
				r.cur, r.stamp = &c, st
			}
		}
	}
	return r.cur, nil
}
