package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Client defaults.
const (
	DefaultClientTimeout = 30 * time.Second
	DefaultDialTimeout   = 5 * time.Second
	// maxResponseBytes caps the answers the client reads.
	maxResponseBytes = 64 << 20
)

// Client is a typed client of the REST API. It knows several masters and
// moves on to the next when one is unreachable (connection refused, timeout)
// or answers 503 unavailable; it remembers the one that worked. Safe for
// concurrent use.
type Client struct {
	endpoints []string // base URLs, without APIPrefix
	token     string
	hc        *http.Client
	timeout   time.Duration
	userAgent string
	preferred atomic.Int64 // index into endpoints
}

// clientConfig collects ClientOptions.
type clientConfig struct {
	timeout     time.Duration
	dialTimeout time.Duration
	userAgent   string
	transport   http.RoundTripper
}

// ClientOption configures NewClient.
type ClientOption func(*clientConfig)

// WithTimeout bounds each request to one master (default 30s); long polls get
// their own wait timeout on top of it.
func WithTimeout(d time.Duration) ClientOption { return func(c *clientConfig) { c.timeout = d } }

// WithDialTimeout bounds connecting to one master (default 5s) before the
// client moves on to the next.
func WithDialTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.dialTimeout = d }
}

// WithUserAgent sets the User-Agent header (default "drover-client").
func WithUserAgent(ua string) ClientOption { return func(c *clientConfig) { c.userAgent = ua } }

// WithTransport replaces the HTTP transport (then caPEM and the dial timeout
// are the transport's business). For tests.
func WithTransport(rt http.RoundTripper) ClientOption {
	return func(c *clientConfig) { c.transport = rt }
}

// ParseEndpoints splits a DROVER_API value: URLs separated by commas or
// spaces.
func ParseEndpoints(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// NewClient returns a client of the masters at endpoints ("https://host:port";
// a bare "host:port" means https; http:// is accepted for tests), sending
// token as bearer token and verifying TLS against caPEM (the system roots if
// caPEM is nil).
func NewClient(endpoints []string, token string, caPEM []byte, opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{timeout: DefaultClientTimeout, dialTimeout: DefaultDialTimeout, userAgent: "drover-client"}
	for _, o := range opts {
		o(&cfg)
	}
	if len(endpoints) == 0 {
		return nil, errors.New("api client: no endpoints")
	}
	c := &Client{token: token, timeout: cfg.timeout, userAgent: cfg.userAgent}
	for _, ep := range endpoints {
		base, err := normalizeEndpoint(ep)
		if err != nil {
			return nil, err
		}
		c.endpoints = append(c.endpoints, base)
	}
	rt := cfg.transport
	if rt == nil {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if caPEM != nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(caPEM) {
				return nil, errors.New("api client: no certificate found in CA PEM")
			}
			tlsCfg.RootCAs = pool
		}
		dialer := &net.Dialer{Timeout: cfg.dialTimeout, KeepAlive: 30 * time.Second}
		rt = &http.Transport{
			// Masters are inside the cluster: no proxy from the environment.
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       tlsCfg,
			TLSHandshakeTimeout:   cfg.dialTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	c.hc = &http.Client{Transport: rt}
	return c, nil
}

// normalizeEndpoint turns an endpoint into a base URL without a trailing
// slash or APIPrefix.
func normalizeEndpoint(ep string) (string, error) {
	ep = strings.TrimSpace(ep)
	if ep == "" {
		return "", errors.New("api client: empty endpoint")
	}
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", fmt.Errorf("api client: endpoint %q: %w", ep, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("api client: endpoint %q: scheme must be https or http", ep)
	}
	if u.Host == "" {
		return "", fmt.Errorf("api client: endpoint %q: no host", ep)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), APIPrefix)
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

// Endpoints returns the normalised endpoints, in the order given.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Endpoint returns the endpoint the client tries first: the last one that
// answered.
func (c *Client) Endpoint() string { return c.endpoints[c.preferred.Load()] }

// request is one API call.
type request struct {
	method string
	path   string // under APIPrefix, already escaped
	query  url.Values
	body   any
	out    any
	// wait is added to the per-master timeout (long polls).
	wait time.Duration
	// header, when set, receives the answer's headers.
	header *http.Header
	// decode, when set, decodes the answer instead of json.Unmarshal
	// into out.
	decode func([]byte) error
}

// do performs r against the masters, starting with the preferred one.
func (c *Client) do(ctx context.Context, r request) error {
	var payload []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("api client: encode %s %s: %w", r.method, r.path, err)
		}
		payload = b
	}
	n := len(c.endpoints)
	start := int(c.preferred.Load())
	var failures []string
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		err := c.attempt(ctx, c.endpoints[idx], r, payload)
		if err == nil {
			c.preferred.Store(int64(idx))
			return nil
		}
		var next *tryNextError
		if !errors.As(err, &next) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("api client: %s %s: %w", r.method, r.path, ctx.Err())
		}
		failures = append(failures, c.endpoints[idx]+": "+next.err.Error())
	}
	return &Error{Code: CodeUnavailable, Message: "no master reachable: " + strings.Join(failures, "; ")}
}

// tryNextError marks a failure after which the next master should be tried.
type tryNextError struct{ err error }

func (e *tryNextError) Error() string { return e.err.Error() }
func (e *tryNextError) Unwrap() error { return e.err }

// attempt performs r against one master.
func (c *Client) attempt(ctx context.Context, base string, r request, payload []byte) error {
	actx, cancel := context.WithTimeout(ctx, c.timeout+r.wait)
	defer cancel()
	u := base + APIPrefix + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		return fmt.Errorf("api client: %s %s: %w", r.method, r.path, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && c.retryable(r.method, err) {
			return &tryNextError{err: err}
		}
		return fmt.Errorf("api client: %s %s: %w", r.method, u, err)
	}
	defer resp.Body.Close()
	data, err := readAnswer(resp)
	if err != nil {
		if ctx.Err() == nil && safeToRepeat(r.method) {
			return &tryNextError{err: err}
		}
		return fmt.Errorf("api client: %s %s: read answer: %w", r.method, u, err)
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return &tryNextError{err: decodeError(resp.StatusCode, data)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp.StatusCode, data)
	}
	if r.header != nil {
		*r.header = resp.Header
	}
	if r.out == nil && r.decode == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	decode := r.decode
	if decode == nil {
		decode = func(b []byte) error { return json.Unmarshal(b, r.out) }
	}
	if err := decode(data); err != nil {
		return fmt.Errorf("api client: %s %s: decode answer: %w", r.method, u, err)
	}
	return nil
}

// readAnswer reads an answer's body (at most maxResponseBytes), into a
// buffer of its Content-Length when it has one: a list of 10,000
// instances is megabytes, read without growing the buffer again and again.
func readAnswer(resp *http.Response) ([]byte, error) {
	body := io.LimitReader(resp.Body, maxResponseBytes)
	if n := resp.ContentLength; n > 0 && n <= maxResponseBytes {
		buf := bytes.NewBuffer(make([]byte, 0, n+1))
		_, err := buf.ReadFrom(body)
		return buf.Bytes(), err
	}
	return io.ReadAll(body)
}

// retryable reports whether a transport error lets the client try the next
// master: for GET any error but a certificate error, for changes only errors
// that prove the request was never sent (a failed dial).
func (c *Client) retryable(method string, err error) bool {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) {
		return false
	}
	if safeToRepeat(method) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func safeToRepeat(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// decodeError turns an error answer into an *Error, guessing a code from the
// status when the body is not an ErrorBody (a proxy's answer, say).
func decodeError(status int, data []byte) *Error {
	var eb ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
		return eb.Error
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Code: codeForStatus(status), Message: fmt.Sprintf("HTTP %d: %s", status, msg)}
}

func codeForStatus(status int) Code {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusMethodNotAllowed:
		return CodeWrongInput
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeUnknownEntity
	case http.StatusConflict:
		return CodeWrongState
	case http.StatusUnprocessableEntity:
		return CodeInsufficientResources
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return CodeUnavailable
	}
	return CodeInternal
}
