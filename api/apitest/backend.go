package apitest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/drover-project/drover/api"
)

// Issuer and Audience of the tokens an apitest Backend signs and accepts.
const (
	ClusterName = "apitest"
	Issuer      = "drover:" + ClusterName
	Audience    = "drover-api"
)

// Backend is an in-memory api.Backend. Jobs run one at a time on a goroutine
// of their own; Close stops it. The zero value is not usable: call New.
type Backend struct {
	pub      ed25519.PublicKey
	key      ed25519.PrivateKey
	signer   *api.Signer
	verifier *api.Verifier
	master   string
	uuid     string
	created  time.Time

	mu      sync.Mutex
	users   map[string]api.User
	tokens  map[string]*api.Token // by id; Token field always empty
	nodes   map[string]*api.Node
	jobs    map[uint64]*api.Job
	seq     uint64
	changed chan struct{} // closed and replaced on every job change
	closed  bool

	queue  chan uint64
	stop   chan struct{}
	wg     sync.WaitGroup
	closer sync.Once
}

// Option configures New.
type Option func(*Backend)

// WithMasterName sets the name MasterName returns (default "master1").
func WithMasterName(name string) Option { return func(b *Backend) { b.master = name } }

var _ api.Backend = (*Backend)(nil)

// New returns a running Backend with a fresh signing key and no users.
func New(opts ...Option) (*Backend, error) {
	pub, key, err := api.GenerateSigningKey()
	if err != nil {
		return nil, fmt.Errorf("apitest: signing key: %w", err)
	}
	b := &Backend{
		pub:      pub,
		key:      key,
		signer:   api.NewSigner(key, Issuer, Audience),
		verifier: api.NewVerifier(pub, Issuer, Audience),
		master:   "master1",
		uuid:     randomID(),
		created:  time.Now().UTC(),
		users:    map[string]api.User{},
		tokens:   map[string]*api.Token{},
		nodes:    map[string]*api.Node{},
		jobs:     map[uint64]*api.Job{},
		changed:  make(chan struct{}),
		queue:    make(chan uint64, 1<<16),
		stop:     make(chan struct{}),
	}
	for _, o := range opts {
		o(b)
	}
	b.wg.Add(1)
	go b.run()
	return b, nil
}

// Close stops the job runner and waits for it. Jobs still queued stay queued.
func (b *Backend) Close() {
	b.closer.Do(func() {
		close(b.stop)
		b.wg.Wait()
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
	})
}

// Verifier returns the verifier matching the backend's signing key.
func (b *Backend) Verifier() *api.Verifier { return b.verifier }

// Signer returns the backend's token signer.
func (b *Backend) Signer() *api.Signer { return b.signer }

// PublicKey and PrivateKey return the signing key pair (for tests that forge
// tokens).
func (b *Backend) PublicKey() ed25519.PublicKey   { return b.pub }
func (b *Backend) PrivateKey() ed25519.PrivateKey { return b.key }

// MasterName implements api.Backend.
func (b *Backend) MasterName() string { return b.master }

// CheckToken implements api.Backend: the token must have been issued here,
// not revoked, and its user must still exist with the token's role.
func (b *Backend) CheckToken(_ context.Context, p api.Principal) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tokens[p.TokenID]
	switch {
	case !ok:
		return api.Errorf(api.CodeUnauthorized, "unknown token")
	case t.Revoked:
		return api.Errorf(api.CodeUnauthorized, "token revoked")
	case t.User != p.User || t.Role != p.Role:
		return api.Errorf(api.CodeUnauthorized, "token does not match its record")
	}
	u, ok := b.users[p.User]
	if !ok {
		return api.Errorf(api.CodeUnauthorized, "user %q removed", p.User)
	}
	if u.Role != p.Role {
		return api.Errorf(api.CodeUnauthorized, "user %q no longer has role %s", p.User, p.Role)
	}
	return nil
}

// ClusterInfo implements api.Backend.
func (b *Backend) ClusterInfo(context.Context) (*api.ClusterInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pending := 0
	for _, j := range b.jobs {
		if !j.State.Finished() {
			pending++
		}
	}
	return &api.ClusterInfo{
		Name:      ClusterName,
		UUID:      b.uuid,
		CreatedAt: b.created,
		Leader:    b.master,
		Epoch:     1,
		Masters: []api.MasterInfo{{
			Name: b.master, APIURL: "http://127.0.0.1", Leader: true, Healthy: true,
		}},
		AnsweredBy:   b.master,
		Version:      "apitest",
		MACPrefix:    "aa:00:00",
		NodeLeaseTTL: 5,
		NodeCount:    len(b.nodes),
		JobsPending:  pending,
	}, nil
}

// ClusterVerify implements api.Backend: an error per unreachable node, a
// warning per drained one.
func (b *Backend) ClusterVerify(context.Context) (*api.VerifyReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rep := &api.VerifyReport{OK: true, Findings: []api.VerifyFinding{}}
	for _, name := range sortedKeys(b.nodes) {
		n := b.nodes[name]
		if n.Status == api.NodeUnreachable {
			rep.OK = false
			rep.Findings = append(rep.Findings, api.VerifyFinding{
				Severity: "error", Code: "ENODEUNREACHABLE", Object: "node/" + name,
				Message: "node agent does not hold its lease",
			})
		}
		if n.Drained {
			rep.Findings = append(rep.Findings, api.VerifyFinding{
				Severity: "warning", Code: "ENODEDRAINED", Object: "node/" + name,
				Message: "node is drained",
			})
		}
	}
	return rep, nil
}

// ListNodes implements api.Backend (sorted by name).
func (b *Backend) ListNodes(context.Context) ([]api.Node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]api.Node, 0, len(b.nodes))
	for _, name := range sortedKeys(b.nodes) {
		out = append(out, cloneNode(b.nodes[name]))
	}
	return out, nil
}

// GetNode implements api.Backend.
func (b *Backend) GetNode(_ context.Context, name string) (*api.Node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.nodes[name]
	if !ok {
		return nil, api.Errorf(api.CodeUnknownEntity, "node %q not found", name)
	}
	c := cloneNode(n)
	return &c, nil
}

// NodeCredentials implements api.Backend: a new password every call.
func (b *Backend) NodeCredentials(_ context.Context, name string) (*api.NodeCredentials, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.nodes[name]; !ok {
		return nil, api.Errorf(api.CodeUnknownEntity, "node %q not found", name)
	}
	return &api.NodeCredentials{
		Node:          name,
		EtcdEndpoints: []string{"https://127.0.0.1:2379"},
		EtcdUser:      "node." + name,
		EtcdPassword:  randomID(),
		CACert:        "",
		APIURLs:       []string{"http://127.0.0.1"},
		LeaseTTL:      5,
	}, nil
}

// AddNode records n directly (no job), for tests that need many nodes. Empty
// Status becomes online.
func (b *Backend) AddNode(n api.Node) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n.Status == "" {
		n.Status = api.NodeOnline
	}
	if n.UUID == "" {
		n.UUID = randomID()
	}
	b.nodes[n.Name] = &n
}

// SetNodeStatus changes the observed status of a node (as if its agent lost
// or regained its lease).
func (b *Backend) SetNodeStatus(name, status string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.nodes[name]
	if !ok {
		return api.Errorf(api.CodeUnknownEntity, "node %q not found", name)
	}
	n.Status = status
	return nil
}

// ListUsers implements api.Backend (sorted by name).
func (b *Backend) ListUsers(context.Context) ([]api.User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]api.User, 0, len(b.users))
	for _, name := range sortedKeys(b.users) {
		out = append(out, b.users[name])
	}
	return out, nil
}

// AddUser implements api.Backend.
func (b *Backend) AddUser(_ context.Context, u api.UserAdd) (*api.User, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.users[u.Name]; ok {
		return nil, api.Errorf(api.CodeAlreadyExists, "user %q exists", u.Name)
	}
	nu := api.User{Name: u.Name, Role: u.Role, CreatedAt: time.Now().UTC()}
	b.users[u.Name] = nu
	return &nu, nil
}

// RemoveUser implements api.Backend; the user's tokens are revoked too, so
// that they stay dead if a user of the same name is added again.
func (b *Backend) RemoveUser(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.users[name]; !ok {
		return api.Errorf(api.CodeUnknownEntity, "user %q not found", name)
	}
	delete(b.users, name)
	for _, t := range b.tokens {
		if t.User == name {
			t.Revoked = true
		}
	}
	return nil
}

// IssueToken implements api.Backend.
func (b *Backend) IssueToken(_ context.Context, user string, ttl time.Duration) (*api.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[user]
	if !ok {
		return nil, api.Errorf(api.CodeUnknownEntity, "user %q not found", user)
	}
	if ttl <= 0 {
		return nil, api.Errorf(api.CodeWrongInput, "ttl must be positive")
	}
	now := time.Now().UTC().Truncate(time.Second)
	t := &api.Token{ID: randomID(), User: u.Name, Role: u.Role, ExpiresAt: now.Add(ttl)}
	signed, err := b.signer.Sign(t.User, t.Role, t.ID, now, t.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("apitest: sign token: %w", err)
	}
	b.tokens[t.ID] = t
	out := *t
	out.Token = signed
	return &out, nil
}

// ListTokens implements api.Backend (by expiry, then id).
func (b *Backend) ListTokens(_ context.Context, user string) ([]api.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.users[user]; !ok {
		return nil, api.Errorf(api.CodeUnknownEntity, "user %q not found", user)
	}
	out := []api.Token{}
	for _, t := range b.tokens {
		if t.User == user {
			out = append(out, *t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ExpiresAt.Equal(out[j].ExpiresAt) {
			return out[i].ExpiresAt.Before(out[j].ExpiresAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// RevokeToken implements api.Backend.
func (b *Backend) RevokeToken(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tokens[id]
	if !ok {
		return api.Errorf(api.CodeUnknownEntity, "token %q not found", id)
	}
	t.Revoked = true
	return nil
}

// Token makes user (with role, which may be node too) if missing and returns
// a new signed token for it, valid for ttl.
func (b *Backend) Token(user, role string, ttl time.Duration) (string, error) {
	b.mu.Lock()
	if _, exists := b.users[user]; !exists {
		b.users[user] = api.User{Name: user, Role: role, CreatedAt: time.Now().UTC()}
	}
	b.mu.Unlock()
	t, err := b.IssueToken(context.Background(), user, ttl)
	if err != nil {
		return "", err
	}
	return t.Token, nil
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("apitest: random: %v", err))
	}
	return hex.EncodeToString(b[:])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func cloneNode(n *api.Node) api.Node {
	c := *n
	c.Tags = slices.Clone(n.Tags)
	if n.Resources != nil {
		r := *n.Resources
		c.Resources = &r
	}
	return c
}
