package master_test

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/mastertest"
)

// RAPI passwords on a real (embedded) etcd: set, checked, replaced, never
// shown, and gone with the user.
func TestRAPIPasswords(t *testing.T) {
	// The lowest bcrypt cost: with -race, cost 11 takes about 6 s a hash.
	c := mastertest.Start(t, mastertest.Options{Extra: func(cfg *master.Config) { cfg.PasswordCost = bcrypt.MinCost }})
	m := c.Masters[0].M
	cx := ctx(t)
	if _, err := m.AddUser(cx, api.UserAdd{Name: "ops", Role: api.RoleOperate}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CheckPassword(cx, "ops", "secret-one"); api.CodeOf(err) != api.CodeUnauthorized {
		t.Fatalf("no password set yet: %v", err)
	}
	if err := m.SetPassword(cx, "ops", "short"); api.CodeOf(err) != api.CodeWrongInput {
		t.Fatalf("short password: %v", err)
	}
	if err := m.SetPassword(cx, "nobody", "secret-one"); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("unknown user: %v", err)
	}
	if err := m.SetPassword(cx, "ops", "secret-one"); err != nil {
		t.Fatal(err)
	}
	p, err := m.CheckPassword(cx, "ops", "secret-one")
	if err != nil || p.User != "ops" || p.Role != api.RoleOperate {
		t.Fatalf("check: %+v %v", p, err)
	}
	if _, err := m.CheckPassword(cx, "ops", "secret-two"); api.CodeOf(err) != api.CodeUnauthorized {
		t.Fatalf("wrong password: %v", err)
	}
	if err := m.SetPassword(cx, "ops", "secret-two"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CheckPassword(cx, "ops", "secret-one"); api.CodeOf(err) != api.CodeUnauthorized {
		t.Fatalf("old password after a change: %v", err)
	}
	if _, err := m.CheckPassword(cx, "ops", "secret-two"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := m.RemoveUser(cx, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CheckPassword(cx, "ops", "secret-two"); api.CodeOf(err) != api.CodeUnauthorized {
		t.Fatalf("removed user: %v", err)
	}
}
