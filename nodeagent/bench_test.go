package nodeagent_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

// BenchmarkInstanceAddFile measures the agent's side of `instance add` of a
// file-disk instance from the real (~190 MB) template: the create command
// (template from the node's cache, install onto a 1 GiB file disk, kernel
// extraction, define) and the start command, until the QEMU (TCG) domain
// runs; guest boot excluded. The first add on a node (template download
// and preparation of its image) is reported separately (cold_create_s).
// Goal: <= 5 s per add.
func BenchmarkInstanceAddFile(b *testing.B) {
	hvtest.NeedBinaries(b, "qemu-system-x86_64")
	s, m, _ := realTemplate(b)
	for _, staging := range []string{"auto", "disk"} {
		b.Run("staging="+staging, func(b *testing.B) {
			dmn := hvtest.StartDaemon(b, libvirtd.Options{})
			drv := newLibvirtDriver(b, hv.KindKVM, dmn.URI("qemu"))
			url, _ := blobServer(b, s, "tok")
			st := ""
			if staging == "disk" {
				st = "disk"
			}
			h := startHarness(b, drv, harnessOpts{APIToken: "tok", Staging: st})
			n := 0
			add := func() (create, start time.Duration, inst keys.InstanceRecord) {
				n++
				inst = keys.InstanceRecord{
					Name: fmt.Sprintf("bench%d", n), UUID: uuid.NewString(), PrimaryNode: "n1", OS: m.Name, OSVersion: m.Version, OSDigest: m.Digest(),
					Hypervisor: "kvm", DiskTemplate: "file", Disks: []keys.DiskSpec{{SizeMiB: 1024}},
					NICs: []keys.NICSpec{{MAC: fmt.Sprintf("aa:00:00:00:03:%02x", n%256)}}, VCPUs: 1, MemoryMiB: 256,
				}
				t0 := time.Now()
				c := h.send(keys.CmdInstanceCreate, inst, nil, func(c *keys.NodeCommand) {
					c.TemplateDigest, c.TemplateURLs = m.Digest(), []string{url}
				})
				r := h.wait(c.ID, 5*time.Minute)
				if r.Error != nil {
					b.Fatalf("create: %v", r.Error)
				}
				var out keys.CreateOutput
				_ = json.Unmarshal(r.Output, &out)
				create = time.Since(t0)
				t1 := time.Now()
				h.run(keys.CmdInstanceStart, inst, nil, 2*time.Minute)
				start = time.Since(t1)
				b.Logf("add %s: create %s (install %.1f s), start %s, total %s", inst.Name,
					create.Round(time.Millisecond), out.InstallSeconds, start.Round(time.Millisecond), (create + start).Round(time.Millisecond))
				return create, start, inst
			}
			// Cold: the template is downloaded into the node's cache once.
			c0, _, inst := add()
			h.run(keys.CmdInstanceRemove, inst, nil, time.Minute)
			var creates, starts time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, s, inst := add()
				creates += c
				starts += s
				b.StopTimer()
				h.run(keys.CmdInstanceRemove, inst, nil, time.Minute)
				b.StartTimer()
			}
			// (after the loop: ResetTimer drops metrics reported before it)
			b.ReportMetric(c0.Seconds(), "cold_create_s")
			b.ReportMetric(creates.Seconds()/float64(b.N), "create_s")
			b.ReportMetric(starts.Seconds()/float64(b.N), "start_s")
			b.ReportMetric(float64(m.Size)/(1<<20), "template_MB")
		})
	}
}
