package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// NodeQuery selects nodes and fields in ListNodes.
type NodeQuery struct {
	// Fields keeps only these fields (JSON names, see NodeFieldNames); the
	// others are left zero in the answer. Empty: all fields.
	Fields []string
	// Filter keeps nodes whose field (JSON name) equals the value; a
	// comma-separated value means any of. "tags" matches one tag.
	Filter map[string]string
}

// ListNodes calls GET /nodes with q's fields and filters.
func (c *Client) ListNodes(ctx context.Context, q NodeQuery) ([]Node, error) {
	v := url.Values{}
	if len(q.Fields) > 0 {
		v.Set("fields", strings.Join(q.Fields, ","))
	}
	for k, val := range q.Filter {
		v.Set(k, val)
	}
	var nodes []Node
	if err := c.do(ctx, request{method: http.MethodGet, path: "/nodes", query: v, out: &nodes}); err != nil {
		return nil, err
	}
	return nodes, nil
}

// GetNode calls GET /nodes/{name}.
func (c *Client) GetNode(ctx context.Context, name string) (*Node, error) {
	var n Node
	if err := c.do(ctx, request{method: http.MethodGet, path: "/nodes/" + url.PathEscape(name), out: &n}); err != nil {
		return nil, err
	}
	return &n, nil
}

// AddNode calls POST /nodes and returns the id of the node.add job.
func (c *Client) AddNode(ctx context.Context, n NodeAdd) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/nodes", n)
}

// ModifyNode calls PATCH /nodes/{name} and returns the id of the node.modify job.
func (c *Client) ModifyNode(ctx context.Context, name string, m NodeModify) (uint64, error) {
	return c.submit(ctx, http.MethodPatch, "/nodes/"+url.PathEscape(name), m)
}

// RemoveNode calls DELETE /nodes/{name} and returns the id of the node.remove job.
func (c *Client) RemoveNode(ctx context.Context, name string) (uint64, error) {
	return c.submit(ctx, http.MethodDelete, "/nodes/"+url.PathEscape(name), nil)
}

// NodeCredentials calls POST /nodes/{name}/credentials: it rotates the node's
// join credentials and returns them.
func (c *Client) NodeCredentials(ctx context.Context, name string) (*NodeCredentials, error) {
	var cr NodeCredentials
	if err := c.do(ctx, request{method: http.MethodPost, path: "/nodes/" + url.PathEscape(name) + "/credentials", out: &cr}); err != nil {
		return nil, err
	}
	return &cr, nil
}

// submit performs a change answered by 202 JobAccepted.
func (c *Client) submit(ctx context.Context, method, path string, body any) (uint64, error) {
	var acc JobAccepted
	if err := c.do(ctx, request{method: method, path: path, body: body, out: &acc}); err != nil {
		return 0, err
	}
	return acc.JobID, nil
}

// SetNodeFence calls PUT /nodes/{name}/fence (nil: DELETE) and returns the node.
func (c *Client) SetNodeFence(ctx context.Context, name string, f *NodeFence) (*Node, error) {
	var n Node
	r := request{method: http.MethodDelete, path: "/nodes/" + url.PathEscape(name) + "/fence", out: &n}
	if f != nil {
		r.method, r.body = http.MethodPut, f
	}
	if err := c.do(ctx, r); err != nil {
		return nil, err
	}
	return &n, nil
}

// NodePower calls POST /nodes/{name}/power and returns the job id.
func (c *Client) NodePower(ctx context.Context, name, action string) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/nodes/"+url.PathEscape(name)+"/power", NodePower{Action: action})
}
