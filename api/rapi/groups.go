package rapi

import (
	"sort"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// groups lists the node groups by name ("default" when there are no nodes).
func (s *snapshot) groups() map[string][]string {
	g := map[string][]string{}
	for _, n := range s.nodes {
		g[n.Group] = append(g[n.Group], n.Name)
	}
	if len(g) == 0 {
		g["default"] = []string{}
	}
	return g
}

// groupJSON is a group with Ganeti's G_FIELDS.
func (s *snapshot) groupJSON(name string, nodes []string) map[string]any {
	return map[string]any{
		"name": name, "uuid": groupUUID(name), "alloc_policy": "preferred",
		"node_cnt": len(nodes), "node_list": nodes,
		"ipolicy": ipolicy(s.policy), "custom_ipolicy": map[string]any{},
		"diskparams": map[string]any{}, "custom_diskparams": map[string]any{},
		"ndparams": ndparams(), "custom_ndparams": map[string]any{},
		"networks": []any{}, "ctime": nil, "mtime": nil, "serial_no": 1, "tags": []string{},
	}
}

func (h *Mount) listGroups(c *gin.Context) {
	bk, err := bulk(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	s, err := h.snapshot(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	gs := s.groups()
	names := make([]string, 0, len(gs))
	for n := range gs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []any{}
	for _, n := range names {
		if bk {
			out = append(out, s.groupJSON(n, gs[n]))
		} else {
			out = append(out, map[string]any{"name": n, "uri": "/2/groups/" + n})
		}
	}
	ok(c, out)
}

func (h *Mount) getGroup(c *gin.Context) {
	s, err := h.snapshot(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	name := c.Param("name")
	nodes, found := s.groups()[name]
	if !found {
		h.fail(c, api.Errorf(api.CodeUnknownEntity, "node group %q not found", name))
		return
	}
	ok(c, s.groupJSON(name, nodes))
}

// getGroupTags answers /2/groups/G/tags: drover's groups carry no tags.
func (h *Mount) getGroupTags(c *gin.Context) {
	s, err := h.snapshot(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if _, found := s.groups()[c.Param("name")]; !found {
		h.fail(c, api.Errorf(api.CodeUnknownEntity, "node group %q not found", c.Param("name")))
		return
	}
	ok(c, []string{})
}
