package htools

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/drover-project/drover/allocator"
)

// Write renders c in the htools text format that hbal, hspace and hail read.
// Groups without a UUID get their name as UUID. Drained nodes cannot be
// expressed in the format and are written as online.
func Write(w io.Writer, c *allocator.Cluster) error {
	s := c.Spec()
	bw := bufio.NewWriter(w)
	uuid := map[string]string{}
	for _, g := range s.Groups {
		id := g.UUID
		if id == "" {
			id = g.Name
		}
		uuid[g.Name] = id
		pol := g.AllocPolicy
		if pol == "" {
			pol = "preferred"
		}
		fmt.Fprintf(bw, "%s|%s|%s|%s|%s\n", g.Name, id, pol, strings.Join(g.Tags, ","), strings.Join(g.Networks, ","))
	}
	bw.WriteString("\n")
	for _, n := range s.Nodes {
		role := "N"
		if n.Offline {
			role = "Y"
		} else if n.Master {
			role = "M"
		}
		fmt.Fprintf(bw, "%s|%d|%d|%d|%d|%d|%d|%s|%s|%d|%s\n", n.Name, n.TotalMem, n.NodeMem, n.FreeMem,
			n.TotalDisk, n.FreeDisk, n.CPUs, role, uuid[n.Group], max(n.Spindles, 1), strings.Join(n.Tags, ","))
	}
	bw.WriteString("\n")
	for _, in := range s.Instances {
		ab := "N"
		if in.AutoBalance {
			ab = "Y"
		}
		fmt.Fprintf(bw, "%s|%d|%d|%d|%s|%s|%s|%s|%s|%s|%d\n", in.Name, in.Mem, in.Disk, in.VCPUs, in.RunState, ab,
			in.Primary, in.Secondary, in.Template, strings.Join(in.Tags, ","), in.SpindleUse)
	}
	bw.WriteString("\n")
	for _, t := range s.Tags {
		bw.WriteString(t + "\n")
	}
	bw.WriteString("\n")
	bw.WriteString(policyLine("", s.Policy))
	for _, g := range s.Groups {
		if g.Policy != nil {
			bw.WriteString(policyLine(g.Name, *g.Policy))
		}
	}
	return bw.Flush()
}

func policyLine(owner string, p allocator.IPolicy) string {
	mm := make([]string, 0, 2*len(p.MinMax))
	for _, m := range p.MinMax {
		mm = append(mm, specString(m.Min), specString(m.Max))
	}
	ts := make([]string, len(p.Templates))
	for i, t := range p.Templates {
		ts[i] = string(t)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s\n", owner, specString(p.Std), strings.Join(mm, ";"), strings.Join(ts, ","),
		floatString(p.VCPURatio), floatString(p.SpindleRatio))
}

func specString(s allocator.ISpec) string {
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d", s.Mem, s.CPUs, s.Disk, s.DiskCount, s.NICCount, s.SpindleUse)
}

func floatString(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
