package api

import "testing"

func TestValidOSRef(t *testing.T) {
	for _, c := range []struct {
		ref    string
		params map[string]string
		ok     bool
	}{
		{"bookworm", nil, true},
		{"bookworm@2", nil, true},
		{"debootstrap+default", map[string]string{"filesystem": "ext4"}, true},
		{"deb.x_y+v-1", nil, true},
		{"debootstrap+", nil, false},
		{"+default", nil, false},
		{"debootstrap+../x", nil, false},
		{"debootstrap+default", map[string]string{"a b": "c"}, false},
		{"debootstrap+default", map[string]string{"a": "line\nbreak"}, false},
		{"Bookworm", nil, false},
	} {
		if err := validOSRef(c.ref, c.params); (err == nil) != c.ok {
			t.Errorf("validOSRef(%q, %v) = %v, want ok=%v", c.ref, c.params, err, c.ok)
		}
	}
}
