package rapi

import (
	"sort"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/drover-project/drover/api"
)

// groupNamespace makes stable group UUIDs from group names (drover's node
// groups are names only).
var groupNamespace = uuid.MustParse("4f0b8a5e-6c1d-4a43-9a57-2d2b1f0e9c31")

func groupUUID(name string) string { return uuid.NewSHA1(groupNamespace, []byte(name)).String() }

// snapshot is one read of what the node, group and instance resources show.
type snapshot struct {
	nodes     []api.Node
	alloc     map[string]api.AllocatorNode
	policy    api.AllocatorPolicy
	instances []api.Instance
}

func (h *Mount) snapshot(c *gin.Context) (*snapshot, error) {
	ctx := c.Request.Context()
	nodes, err := h.b.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	view, err := h.b.AllocatorView(ctx)
	if err != nil {
		return nil, err
	}
	insts, err := h.b.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	s := &snapshot{nodes: nodes, alloc: map[string]api.AllocatorNode{}, policy: view.Policy, instances: insts}
	for _, n := range view.Nodes {
		s.alloc[n.Name] = n
	}
	sort.Slice(s.nodes, func(i, j int) bool { return s.nodes[i].Name < s.nodes[j].Name })
	sort.Slice(s.instances, func(i, j int) bool { return s.instances[i].Name < s.instances[j].Name })
	return s, nil
}

// nodeFlags are a node's offline and drained flags as Ganeti shows them.
// They are the allocator's: an unreachable node counts as offline, a node
// that is not vm_capable or whose hypervisor failed as drained, so htools
// never places on a node drover would not.
func (s *snapshot) nodeFlags(n api.Node) (offline, drained bool) {
	a, found := s.alloc[n.Name]
	if !found {
		return true, n.Drained
	}
	return a.Offline, a.Drained
}

// role is Ganeti's one-letter node role.
func role(offline, drained bool) string {
	switch {
	case offline:
		return "O"
	case drained:
		return "D"
	}
	return "R"
}

var roleNames = map[string]string{"O": "offline", "D": "drained", "R": "regular", "C": "master-candidate", "M": "master"}

// nodeJSON is a node with Ganeti's N_FIELDS.
func (s *snapshot) nodeJSON(n api.Node) map[string]any {
	offline, drained := s.nodeFlags(n)
	pinst := []string{}
	for _, in := range s.instances {
		if in.PrimaryNode == n.Name {
			pinst = append(pinst, in.Name)
		}
	}
	tags := n.Tags
	if tags == nil {
		tags = []string{}
	}
	ts := float64(n.AddedAt.UnixNano()) / 1e9
	out := map[string]any{
		"name": n.Name, "offline": offline, "drained": drained, "master_candidate": false,
		"master_capable": n.MasterCapable, "vm_capable": n.VMCapable,
		"role": role(offline, drained), "pip": n.PrimaryIP, "sip": n.SecondaryIP,
		"pinst_cnt": len(pinst), "pinst_list": pinst, "sinst_cnt": 0, "sinst_list": []string{},
		"ndparams": ndparams(), "group.uuid": groupUUID(n.Group), "group": n.Group,
		"ctime": ts, "mtime": ts, "uuid": n.UUID, "serial_no": 1, "tags": tags,
		// Live fields are null for nodes that cannot be reached, as Ganeti's.
		"mtotal": nil, "mnode": nil, "mfree": nil, "dtotal": nil, "dfree": nil,
		"ctotal": nil, "cnos": nil, "cnodes": nil, "csockets": nil, "sptotal": nil, "spfree": nil,
	}
	if a, found := s.alloc[n.Name]; found && !offline {
		out["mtotal"], out["mnode"], out["mfree"] = a.TotalMemMiB, a.NodeMemMiB, a.FreeMemMiB
		out["dtotal"], out["dfree"] = a.TotalDiskMiB, a.FreeDiskMiB
		out["ctotal"], out["cnos"], out["cnodes"], out["csockets"] = a.CPUs, 1, 1, 1
		out["sptotal"], out["spfree"] = a.Spindles, a.Spindles
	}
	return out
}

func (s *snapshot) node(name string) (api.Node, error) {
	for _, n := range s.nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return api.Node{}, api.Errorf(api.CodeUnknownEntity, "node %q not found", name)
}

// listNodes answers /2/nodes: ids and URIs, or every node with ?bulk=1.
func (h *Mount) listNodes(c *gin.Context) {
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
	out := []any{}
	for _, n := range s.nodes {
		if bk {
			out = append(out, s.nodeJSON(n))
		} else {
			out = append(out, map[string]any{"id": n.Name, "uri": "/2/nodes/" + n.Name})
		}
	}
	ok(c, out)
}

func (h *Mount) getNode(c *gin.Context) {
	s, err := h.snapshot(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	n, err := s.node(c.Param("name"))
	if err != nil {
		h.fail(c, err)
		return
	}
	ok(c, s.nodeJSON(n))
}

// getNodeRole answers /2/nodes/N/role: offline, drained or regular.
func (h *Mount) getNodeRole(c *gin.Context) {
	s, err := h.snapshot(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	n, err := s.node(c.Param("name"))
	if err != nil {
		h.fail(c, err)
		return
	}
	ok(c, roleNames[role(s.nodeFlags(n))])
}

// setNodeRole answers PUT /2/nodes/N/role (a job: node.modify). drover's
// nodes are never master candidates: masters are separate processes.
func (h *Mount) setNodeRole(c *gin.Context) {
	var r string
	if err := body(c, &r); err != nil {
		h.fail(c, err)
		return
	}
	yes, no := true, false
	var m api.NodeModify
	switch r {
	case "regular":
		m.Offline, m.Drained = &no, &no
	case "drained":
		m.Drained = &yes
	case "offline":
		m.Offline = &yes
	case "master-candidate", "master":
		h.fail(c, wrongInput("Can't set '%s' role: drover's masters are separate processes, not node roles", r))
		return
	default:
		h.fail(c, wrongInput("Can't set '%s' role", r))
		return
	}
	h.submit(c, op(api.OpNodeModify, api.NodeModifyOp{Name: c.Param("name"), NodeModify: m}))
}
