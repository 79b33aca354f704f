package master

import (
	"errors"
	"strings"
	"testing"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

func TestOSDefinitionRecord(t *testing.T) {
	for ref, want := range map[string]string{"debootstrap+default": "debootstrap+default", "debootstrap+default@0": "debootstrap+default", "a.b+c@d": "a.b+c"} {
		r, ok := osDefinitionRecord(ref)
		if !ok || r.Name != want || r.Digest != "" || r.Version != 0 {
			t.Errorf("osDefinitionRecord(%q) = %+v %v", ref, r, ok)
		}
	}
	if _, ok := osDefinitionRecord("bookworm@3"); ok {
		t.Error("a template ref taken for an OS definition")
	}
}

func TestCheckNodeOS(t *testing.T) {
	st := &keys.NodeStatus{OSDefinitions: []api.OSDefinition{
		{Name: "debootstrap", Variants: []string{"default", "slim"}, Parameters: map[string]string{"filesystem": "fs", "dhcp": "yes/no"}},
		{Name: "broken", Error: "no executable create script"},
	}}
	cases := []struct {
		ref    string
		params map[string]string
		code   api.Code
		msg    string
	}{
		{"debootstrap+default", map[string]string{"filesystem": "ext4"}, "", ""},
		{"debootstrap+slim", nil, "", ""},
		{"debootstrap+huge", nil, api.CodeUnknownEntity, "variants: default, slim"},
		{"debootstrap+default", map[string]string{"size": "4"}, api.CodeWrongInput, "parameters: dhcp, filesystem"},
		{"broken+x", nil, api.CodeWrongState, "no executable create script"},
		{"image+default", nil, api.CodeUnknownEntity, "debootstrap+default, debootstrap+slim"},
	}
	for _, c := range cases {
		err := checkNodeOS("node1", c.ref, c.params, st)
		var ae *api.Error
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%s %v: %v", c.ref, c.params, err)
		case c.code != "" && (!errors.As(err, &ae) || ae.Code != c.code || !strings.Contains(err.Error(), c.msg)):
			t.Errorf("%s %v = %v; want %s with %q", c.ref, c.params, err, c.code, c.msg)
		}
	}
	// Parameters go with OS definitions only.
	err := checkAddOS(api.InstanceAdd{OS: "bookworm", OSParams: map[string]string{"a": "b"}}, &keys.TemplateRecord{Name: "bookworm", Digest: "abc"}, st)
	if err == nil || !strings.Contains(err.Error(), "are for Ganeti OS definitions") {
		t.Errorf("-O with a template = %v", err)
	}
}
