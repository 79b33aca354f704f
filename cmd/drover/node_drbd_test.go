package main

import (
	"bytes"
	"testing"

	"github.com/drover-project/drover/api"
)

func TestPrintNodeDRBD(t *testing.T) {
	var b bytes.Buffer
	printNodeDRBD(&b, nil)
	if b.Len() != 0 {
		t.Errorf("no resources printed %q", b.String())
	}
	printNodeDRBD(&b, []api.NodeDRBDResource{{Name: "i-d0", Role: "Primary", Minor: 2, Disk: "UpToDate", SplitBrain: true,
		Peers: []api.NodeDRBDPeer{{Name: "node2", Connection: "Connected", Role: "Secondary", Disk: "Inconsistent", Replication: "SyncSource", SyncPercent: 41.5}}}})
	want := "  DRBD resources:\n    i-d0: minor 2, Primary, disk UpToDate SPLIT-BRAIN\n      peer node2: Connected, Secondary, disk Inconsistent, SyncSource, 41.5% in sync\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
