package keys

import "testing"

func TestKeys(t *testing.T) {
	cases := []struct{ got, want string }{
		{NodeKey("n1"), "/drover/v1/nodes/n1"},
		{NodeStatusKey("n1"), "/drover/v1/nodestate/n1/status"},
		{NodeStatePrefix("n1"), "/drover/v1/nodestate/n1/"},
		{NodeCmdPrefix("n1"), "/drover/v1/nodecmd/n1/"},
		{JobKey(42), "/drover/v1/jobs/00000000000000000042"},
		{ArchiveJobKey(7), "/drover/v1/archive/jobs/00000000000000000007"},
		{NodeEtcdUser("n1"), "node.n1"},
		{NameFromKey(NodesPrefix, NodeKey("n1")), "n1"},
		{NameFromKey(NodesPrefix, "/drover/v1/nodes/n1/x"), ""},
		{NodeFromStatusKey(NodeStatusKey("n-2")), "n-2"},
		{NodeFromStatusKey(NodeStatePrefix("n-2") + "domains"), ""},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q, want %q", i, c.got, c.want)
		}
	}
	if id, ok := JobIDFromKey(JobKey(42)); !ok || id != 42 {
		t.Errorf("JobIDFromKey = %d, %v", id, ok)
	}
}
