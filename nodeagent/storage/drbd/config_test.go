package drbd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testResource() Resource {
	return Resource{Name: "inst1-disk0", Port: 11000, Secret: "c2VjcmV0LXNlY3JldA==", ResyncRate: "500M", Hosts: []Host{
		{Name: "node1", IP: "198.18.7.11", Minor: 0, Disk: "/dev/mapper/drover-inst1--disk0", NodeID: 0},
		{Name: "node2", IP: "198.18.7.12", Minor: 3, Disk: "/dev/mapper/drover-inst1--disk0", NodeID: 1},
	}}
}

func TestConfig84(t *testing.T) {
	c, err := testResource().Config(Version{8, 4, 11})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resource inst1-disk0 {", "  protocol C;", `net { cram-hmac-alg sha256; shared-secret "c2VjcmV0LXNlY3JldA=="; after-sb-0pri discard-zero-changes; after-sb-1pri discard-secondary; after-sb-2pri disconnect; }`,
		"disk { on-io-error detach; c-plan-ahead 0; resync-rate 500M; }",
		"on node2 { device minor 3; disk /dev/mapper/drover-inst1--disk0; meta-disk internal; address 198.18.7.12:11000; }"} {
		if !strings.Contains(c, want) {
			t.Errorf("8.4 config lacks %q:\n%s", want, c)
		}
	}
	if strings.Contains(c, "node-id") || strings.Contains(c, "connection-mesh") {
		t.Errorf("8.4 config has DRBD 9 keywords:\n%s", c)
	}
}

func TestConfig9(t *testing.T) {
	r := testResource()
	r.Hosts = append(r.Hosts, Host{Name: "node3", IP: "198.18.7.13", Minor: 1, Disk: "/dev/mapper/x", NodeID: 2})
	c, err := r.Config(Version{9, 3, 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"net { protocol C; cram-hmac-alg sha256;", "after-sb-1pri discard-secondary; after-sb-2pri disconnect; }", "on node1 { node-id 0; device minor 0;", "on node3 { node-id 2; device minor 1;",
		"connection-mesh { hosts node1 node2 node3; }"} {
		if !strings.Contains(c, want) {
			t.Errorf("9 config lacks %q:\n%s", want, c)
		}
	}
	if _, err := r.Config(Version{8, 4, 11}); !errors.Is(err, ErrInvalid) {
		t.Errorf("three hosts on 8.4: %v, want ErrInvalid", err)
	}
}

func TestValidate(t *testing.T) {
	for what, mut := range map[string]func(*Resource){
		"name":     func(r *Resource) { r.Name = "a b" },
		"port":     func(r *Resource) { r.Port = 0 },
		"secret":   func(r *Resource) { r.Secret = `x"; }` },
		"ip":       func(r *Resource) { r.Hosts[0].IP = "node1" },
		"disk":     func(r *Resource) { r.Hosts[1].Disk = "vda" },
		"dup host": func(r *Resource) { r.Hosts[1].Name = "node1" },
		"node-id":  func(r *Resource) { r.Hosts[1].NodeID = 0 },
		"rate":     func(r *Resource) { r.ResyncRate = "fast" },
	} {
		r := testResource()
		r.Hosts = append([]Host(nil), r.Hosts...)
		mut(&r)
		if err := r.Validate(V9); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", what, err)
		}
	}
}

func TestParseProc(t *testing.T) {
	v, err := ParseProc("version: 8.4.11 (api:1/proto:86-101)\nsrcversion: F73C670A7EC572DB9CF3E5B \n")
	if err != nil || v != (Version{8, 4, 11}) {
		t.Errorf("8.4: %v %v", v, err)
	}
	v, err = ParseProc("version: 9.3.3 (api:2/proto:118-124)\nGIT-hash: b02a6084")
	if err != nil || v.String() != "9.3.3" {
		t.Errorf("9: %v %v", v, err)
	}
	if _, err := ParseProc("nothing"); err == nil {
		t.Error("no version: no error")
	}
}

// recordingRunner is a fake of drbdadm: it records the calls (no DRBD runs).
type recordingRunner struct{ calls []string }

func (r *recordingRunner) run(_ context.Context, stdin, name string, args ...string) ([]byte, error) {
	r.calls = append(r.calls, name+" "+strings.Join(args[2:], " ")+"|"+strings.TrimSpace(stdin))
	return nil, nil
}

func TestAdminFilesAndCalls(t *testing.T) {
	dir := t.TempDir()
	rec := &recordingRunner{}
	a := &Admin{Version: Version{8, 4, 11}, ConfDir: dir, Run: rec.run}
	if err := a.WriteResource(testResource()); err != nil {
		t.Fatal(err)
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "drbd.conf"))
	if !strings.Contains(string(conf), "usage-count no;") || !strings.Contains(string(conf), filepath.Join(dir, "drbd.d")+"/*.res") {
		t.Errorf("drbd.conf:\n%s", conf)
	}
	if st, err := os.Stat(a.ResourceFile("inst1-disk0")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("resource file: %v %v (the secret must not be world-readable)", st, err)
	}
	ctx := context.Background()
	_ = a.CreateMD(ctx, "r")
	_ = a.Primary(ctx, "r", true)
	_ = a.Primary(ctx, "r", false)
	a.Version = V9
	_ = a.CreateMD(ctx, "r")
	want := []string{"drbdadm create-md --force r|yes\nyes", "drbdadm primary --force r|", "drbdadm primary r|", "drbdadm create-md --force --max-peers=3 r|yes\nyes"}
	if strings.Join(rec.calls, ",") != strings.Join(want, ",") {
		t.Errorf("calls %q, want %q", rec.calls, want)
	}
	if err := a.RemoveResource("inst1-disk0"); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveResource("inst1-disk0"); err != nil {
		t.Errorf("second remove: %v", err)
	}
}
