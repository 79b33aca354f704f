package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// InstanceQuery selects instances and fields in ListInstances (as NodeQuery).
type InstanceQuery struct {
	Fields []string
	Filter map[string]string
	// Limit and Continue ask for one page (ListInstancesPage).
	Limit    int
	Continue string
}

func (q InstanceQuery) values() url.Values {
	v := url.Values{}
	if len(q.Fields) > 0 {
		v.Set("fields", strings.Join(q.Fields, ","))
	}
	for k, val := range q.Filter {
		v.Set(k, val)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Continue != "" {
		v.Set("continue", q.Continue)
	}
	return v
}

// ListInstances calls GET /instances (all pages of q when q.Limit is set).
func (c *Client) ListInstances(ctx context.Context, q InstanceQuery) ([]Instance, error) {
	if q.Limit > 0 {
		var all []Instance
		for {
			page, next, err := c.ListInstancesPage(ctx, q)
			if err != nil {
				return nil, err
			}
			all = append(all, page...)
			if next == "" {
				return all, nil
			}
			q.Continue = next
		}
	}
	v := q.values()
	var out []Instance
	if err := c.do(ctx, request{method: http.MethodGet, path: "/instances", query: v, decode: func(b []byte) (err error) {
		out, err = decodeInstanceList(b, 0)
		return err
	}}); err != nil {
		return nil, err
	}
	return out, nil
}

func instPath(name string, verb ...string) string {
	p := "/instances/" + url.PathEscape(name)
	for _, v := range verb {
		p += "/" + v
	}
	return p
}

// GetInstance calls GET /instances/{name}.
func (c *Client) GetInstance(ctx context.Context, name string) (*Instance, error) {
	var in Instance
	if err := c.do(ctx, request{method: http.MethodGet, path: instPath(name), out: &in}); err != nil {
		return nil, err
	}
	return &in, nil
}

// AddInstance calls POST /instances and returns the id of the instance.add job.
func (c *Client) AddInstance(ctx context.Context, a InstanceAdd) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/instances", a)
}

// RemoveInstance calls DELETE /instances/{name} (job instance.remove).
func (c *Client) RemoveInstance(ctx context.Context, name string) (uint64, error) {
	return c.submit(ctx, http.MethodDelete, instPath(name), nil)
}

// StartupInstance calls POST /instances/{name}/startup.
func (c *Client) StartupInstance(ctx context.Context, name string) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "startup"), nil)
}

// ShutdownInstance calls POST /instances/{name}/shutdown.
func (c *Client) ShutdownInstance(ctx context.Context, name string, o ShutdownOptions) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "shutdown"), o)
}

// RebootInstance calls POST /instances/{name}/reboot.
func (c *Client) RebootInstance(ctx context.Context, name string) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "reboot"), nil)
}

// ReinstallInstance calls POST /instances/{name}/reinstall.
func (c *Client) ReinstallInstance(ctx context.Context, name string, o ReinstallOptions) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "reinstall"), o)
}

// RenameInstance calls POST /instances/{name}/rename.
func (c *Client) RenameInstance(ctx context.Context, name, newName string) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "rename"), RenameOptions{NewName: newName})
}

// GrowDisk calls POST /instances/{name}/grow-disk.
func (c *Client) GrowDisk(ctx context.Context, name string, o GrowDiskOptions) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "grow-disk"), o)
}

// ModifyInstance calls PATCH /instances/{name}.
func (c *Client) ModifyInstance(ctx context.Context, name string, m InstanceModify) (uint64, error) {
	return c.submit(ctx, http.MethodPatch, instPath(name), m)
}

// InstanceConsole calls GET /instances/{name}/console (bytes 0: default).
func (c *Client) InstanceConsole(ctx context.Context, name string, bytes int) (*InstanceConsole, error) {
	v := url.Values{}
	if bytes > 0 {
		v.Set("bytes", strconv.Itoa(bytes))
	}
	var out InstanceConsole
	if err := c.do(ctx, request{method: http.MethodGet, path: instPath(name, "console"), query: v, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
