package api_test

import (
	"strings"
	"testing"

	"github.com/drover-project/drover/api"
)

func TestValidPingTargets(t *testing.T) {
	for _, c := range []struct {
		in   map[string][]string
		want string // "" accepted, else a part of the message
	}{
		{nil, ""},
		{map[string][]string{"default": {"192.0.2.1", "2001:db8::1"}}, ""},
		{map[string][]string{"default": {}}, ""}, // clears
		{map[string][]string{"Bad_Group": {"192.0.2.1"}}, "ping target group"},
		{map[string][]string{"default": {"gateway"}}, "not an IP address"},
		{map[string][]string{"default": {"fe80::1%eth0"}}, "not an IP address"},
		{map[string][]string{"default": {"0.0.0.0"}}, "not a unicast"},
		{map[string][]string{"default": {"224.0.0.1"}}, "not a unicast"},
		{map[string][]string{"default": {"192.0.2.1", "192.0.2.1"}}, "twice"},
		{map[string][]string{"default": strings.Split("1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9", " ")}, "at most 8"},
	} {
		err := api.ValidPingTargets(c.in)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: refused: %v", c.in, err)
		case c.want != "" && (err == nil || api.AsError(err).Code != api.CodeWrongInput || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want wrong_input with %q", c.in, err, c.want)
		}
	}
	if err := (api.ClusterModify{}).Validate(); err == nil {
		t.Errorf("an empty cluster modify was accepted")
	}
	off := false
	if err := (api.ClusterModify{UplinkMigrate: &off}).Validate(); err != nil {
		t.Errorf("uplink_migrate alone: %v", err)
	}
	if got := api.PingTargetsString(map[string][]string{"rack2": {"10.1.0.1"}, "default": {"10.0.0.1", "10.0.0.2"}}); got != "default=10.0.0.1,10.0.0.2 rack2=10.1.0.1" {
		t.Errorf("PingTargetsString: %q", got)
	}
}
