package drbd

import (
	"context"
	"strings"
	"testing"
)

func TestAllowTwoPrimaries(t *testing.T) {
	for _, v := range []Version{{8, 4, 11}, V9} {
		rec := &recordingRunner{}
		a := &Admin{Version: v, ConfDir: t.TempDir(), Run: rec.run}
		ctx := context.Background()
		if err := a.AllowTwoPrimaries(ctx, "r", true); err != nil {
			t.Fatal(err)
		}
		if err := a.AllowTwoPrimaries(ctx, "r", false); err != nil {
			t.Fatal(err)
		}
		want := "drbdadm net-options --allow-two-primaries=yes r|,drbdadm net-options --allow-two-primaries=no r|"
		if got := strings.Join(rec.calls, ","); got != want {
			t.Errorf("%s: calls %q, want %q", v, got, want)
		}
	}
}
