package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ContinueHeader carries the token of the next page of a list answer
// (absent on the last page): GET /instances?limit=N&continue=TOKEN.
const ContinueHeader = "Drover-Continue"

// MaxListLimit is the largest page GET /instances serves (limit=).
const MaxListLimit = 50000

// InstancePager is an optional ability of an InstanceBackend: one page of the
// instances in name order, filtered where they are kept (docs/api.md,
// "Pages and filters"). Without it the server filters ListInstances.
type InstancePager interface {
	ListInstancePage(ctx context.Context, q InstancePageQuery) (page []Instance, more bool, err error)
}

// InstancePageQuery is what a page holds: instances whose name is after
// After, that pass the filters, at most Limit of them (0: all).
type InstancePageQuery struct {
	After string
	Limit int
	// NamePrefix, Node (primary) and Tag (one tag of the instance) are
	// filters on the instance's record ("" = any).
	NamePrefix, Node, Tag string
	// Keep is a further filter on the instance as listed (nil keeps all).
	Keep func(*Instance) bool
}

// EncodeContinue makes the continue token of a page that ended at name.
func EncodeContinue(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

// DecodeContinue reads a continue token (wrong_input when it is none).
func DecodeContinue(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return "", Errorf(CodeWrongInput, "continue %s: not a token of a previous page", quoteShort(tok))
	}
	return string(b), nil
}

// pageParams are the query parameters of GET /instances that are no field
// filter.
var pageParams = map[string]bool{"limit": true, "continue": true, "name_prefix": true, "node": true, "tag": true}

// parsePage reads limit, continue, name_prefix, node and tag.
func parsePage(q url.Values) (InstancePageQuery, error) {
	var p InstancePageQuery
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			return p, Errorf(CodeWrongInput, "limit %s: want 1..%d", quoteShort(v), MaxListLimit)
		}
		p.Limit = n
	}
	if v := q.Get("continue"); v != "" {
		after, err := DecodeContinue(v)
		if err != nil {
			return p, err
		}
		p.After = after
	}
	p.NamePrefix, p.Node, p.Tag = q.Get("name_prefix"), q.Get("node"), q.Get("tag")
	if strings.Contains(p.Node, ",") || strings.Contains(p.Tag, ",") {
		return p, Errorf(CodeWrongInput, "node and tag take one value each (primary_node=a,b means any of)")
	}
	return p, nil
}

// pageOf applies q to a full, name-ordered list (the server's fallback for
// a backend that is no InstancePager).
func pageOf(all []Instance, q InstancePageQuery) ([]Instance, bool) {
	out := []Instance{}
	for i := range all {
		in := &all[i]
		if in.Name <= q.After && q.After != "" || !strings.HasPrefix(in.Name, q.NamePrefix) ||
			q.Node != "" && in.PrimaryNode != q.Node ||
			q.Tag != "" && !hasTag(in.Tags, q.Tag) || q.Keep != nil && !q.Keep(in) {
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			return out, true
		}
		out = append(out, *in)
	}
	return out, false
}

func hasTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

// ListInstancesPage calls GET /instances with q and its page parameters;
// next is the continue token of the following page ("" after the last).
func (c *Client) ListInstancesPage(ctx context.Context, q InstanceQuery) (page []Instance, next string, err error) {
	v := q.values()
	var h http.Header
	if err := c.do(ctx, request{method: http.MethodGet, path: "/instances", query: v, header: &h, decode: func(b []byte) (err error) {
		page, err = decodeInstanceList(b, q.Limit)
		return err
	}}); err != nil {
		return nil, "", err
	}
	return page, h.Get(ContinueHeader), nil
}
