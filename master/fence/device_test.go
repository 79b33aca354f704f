package fence

import (
	"errors"
	"strings"
	"testing"
)

func TestParseParamsAndValidate(t *testing.T) {
	p, err := ParseParams("ip=127.0.0.1,ipport=9623,username=admin,password=s3cr=t,lanplus=1")
	if err != nil {
		t.Fatal(err)
	}
	if p["password"] != "s3cr=t" || p["ipport"] != "9623" || len(p) != 5 {
		t.Fatalf("parsed %v", p)
	}
	if _, err := ParseParams("ip"); !errors.Is(err, ErrInput) {
		t.Fatalf("no '=': %v", err)
	}
	bad := []Device{
		{Agent: "ipmilan"},
		{Agent: "fence_ipmilan; rm"},
		{Agent: "fence_ipmilan", Params: map[string]string{"action": "on"}},
		{Agent: "fence_ipmilan", Params: map[string]string{"ip": "1\naction=on"}},
		{Agent: "fence_ipmilan", Params: map[string]string{"IP": "x"}},
	}
	for _, d := range bad {
		if err := d.Validate(); !errors.Is(err, ErrInput) {
			t.Errorf("%+v: %v, want ErrInput", d, err)
		}
	}
	if err := (Device{Agent: "fence_ipmilan", Params: p}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsNeverShown(t *testing.T) {
	d := Device{Agent: "fence_ipmilan", Params: map[string]string{
		"ip": "10.0.0.9", "password": "hunter2", "passwd_script": "/bin/pw", "snmp_priv_passwd": "pp",
		"hexadecimal_kg": "abcd", "community": "public", "username": "admin",
	}}
	r := d.Redacted()
	for _, k := range []string{"password", "passwd_script", "snmp_priv_passwd", "hexadecimal_kg", "community"} {
		if r[k] != Hidden {
			t.Errorf("%s shown as %q", k, r[k])
		}
	}
	if r["ip"] != "10.0.0.9" || r["username"] != "admin" {
		t.Errorf("plain parameters changed: %v", r)
	}
	out := d.Scrub("ipmitool -P hunter2 -H 10.0.0.9 failed (hunter2)")
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "10.0.0.9") {
		t.Errorf("scrubbed: %q", out)
	}
	in := d.stdin("off")
	if !strings.HasPrefix(in, "action=off\n") || !strings.Contains(in, "\npassword=hunter2\n") {
		t.Errorf("stdin: %q", in)
	}
}
