package htools

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/drover-project/drover/allocator"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("htools: syntax error")

// ParseError locates a problem in the input.
type ParseError struct {
	Line int // 1-based; 0 when the problem is the file as a whole
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return "htools: " + e.Msg
	}
	return fmt.Sprintf("htools: line %d: %s", e.Line, e.Msg)
}

func (e *ParseError) Unwrap() error { return ErrSyntax }

type line struct {
	no   int
	text string
}

// maxValue bounds every number read, so sums cannot overflow.
const maxValue = 1 << 50

// Parse reads a cluster in the htools text format: groups, nodes, instances,
// cluster tags and (optionally) instance policies, as sections separated by one
// blank line. Errors are *ParseError values and carry the line number.
func Parse(r io.Reader) (*allocator.Cluster, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("htools: read: %w", err)
	}
	return ParseBytes(data)
}

// ParseBytes is Parse on a byte slice.
func ParseBytes(data []byte) (*allocator.Cluster, error) {
	var sections [][]line
	cur := []line{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	no := 0
	for sc.Scan() {
		no++
		t := strings.TrimSuffix(sc.Text(), "\r")
		if strings.ContainsRune(t, '\r') {
			// a stray CR would not survive a write and read back
			return nil, &ParseError{Line: no, Msg: "carriage return inside a line"}
		}
		if t == "" {
			sections = append(sections, cur)
			cur = []line{}
			continue
		}
		cur = append(cur, line{no, t})
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Line: no + 1, Msg: err.Error()}
	}
	sections = append(sections, cur)
	if len(sections) == 5 && len(sections[4]) == 0 {
		// a trailing newline after the tags section when no policies follow
		sections = sections[:4]
	}
	if len(sections) == 6 && len(sections[5]) == 0 {
		sections = sections[:5]
	}
	if len(sections) != 4 && len(sections) != 5 {
		return nil, &ParseError{Msg: fmt.Sprintf("%d sections instead of 4 or 5 (groups, nodes, instances, tags, policies), separated by one blank line", len(sections))}
	}
	p := parser{groupByUUID: map[string]string{}, nodeLine: map[string]int{}, instSeen: map[string]bool{}, groupIx: map[string]int{}}
	p.spec.Policy = allocator.DefaultIPolicy()
	for _, l := range sections[0] {
		if err := p.group(l); err != nil {
			return nil, err
		}
	}
	for _, l := range sections[1] {
		if err := p.node(l); err != nil {
			return nil, err
		}
	}
	for _, l := range sections[2] {
		if err := p.instance(l); err != nil {
			return nil, err
		}
	}
	for _, l := range sections[3] {
		p.spec.Tags = append(p.spec.Tags, l.text)
	}
	if len(sections) == 5 {
		for _, l := range sections[4] {
			if err := p.policy(l); err != nil {
				return nil, err
			}
		}
	}
	c, err := allocator.NewCluster(p.spec)
	if err != nil {
		return nil, &ParseError{Msg: err.Error()}
	}
	return c, nil
}

type parser struct {
	spec        allocator.Spec
	groupByUUID map[string]string
	groupIx     map[string]int
	nodeLine    map[string]int
	instSeen    map[string]bool
}

func errf(l line, format string, args ...any) error {
	return &ParseError{Line: l.no, Msg: fmt.Sprintf(format, args...)}
}

func csv(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func num(l line, what, s string) (int64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > maxValue {
		return 0, errf(l, "%s: want a number from 0 to 2^50, got %q", what, s)
	}
	return int64(math.Round(v)), nil
}

func ratio(l line, what, s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > maxValue {
		return 0, errf(l, "%s: want a non-negative number, got %q", what, s)
	}
	return v, nil
}

func (p *parser) group(l line) error {
	f := strings.Split(l.text, "|")
	if len(f) != 4 && len(f) != 5 {
		return errf(l, "group: want 4 or 5 fields (name|uuid|alloc_policy|tags|networks), got %d", len(f))
	}
	switch f[2] {
	case "preferred", "last_resort", "unallocable":
	default:
		return errf(l, "group %q: alloc policy %q is not preferred, last_resort or unallocable", f[0], f[2])
	}
	if f[0] == "" || f[1] == "" {
		return errf(l, "group: empty name or uuid")
	}
	if _, dup := p.groupByUUID[f[1]]; dup {
		return errf(l, "group %q: duplicate uuid %q", f[0], f[1])
	}
	if _, dup := p.groupIx[f[0]]; dup {
		return errf(l, "group %q: duplicate name", f[0])
	}
	g := allocator.Group{Name: f[0], UUID: f[1], AllocPolicy: f[2], Tags: csv(f[3])}
	if len(f) == 5 {
		g.Networks = csv(f[4])
	}
	p.groupByUUID[f[1]] = f[0]
	p.groupIx[f[0]] = len(p.spec.Groups)
	p.spec.Groups = append(p.spec.Groups, g)
	return nil
}

func (p *parser) node(l line) error {
	f := strings.Split(l.text, "|")
	if len(f) < 9 || len(f) > 15 {
		return errf(l, "node: want 9 to 15 fields (name|t_mem|n_mem|f_mem|t_disk|f_disk|t_cpu|role|group_uuid[|spindles|tags|...]), got %d", len(f))
	}
	n := allocator.Node{Name: f[0], Spindles: 1}
	if n.Name == "" {
		return errf(l, "node: empty name")
	}
	if _, dup := p.nodeLine[n.Name]; dup {
		return errf(l, "node %q: duplicate (first on line %d)", n.Name, p.nodeLine[n.Name])
	}
	g, ok := p.groupByUUID[f[8]]
	if !ok {
		return errf(l, "node %q: unknown group uuid %q", n.Name, f[8])
	}
	n.Group = g
	switch f[7] {
	case "Y":
		n.Offline = true
	case "M":
		n.Master = true
	case "N":
	default:
		return errf(l, "node %q: role %q is not Y (offline), N or M (master)", n.Name, f[7])
	}
	unknown := false
	for _, v := range f[1:7] {
		unknown = unknown || v == "?"
	}
	if unknown {
		n.Offline = true
	} else {
		vals := make([]int64, 6)
		names := []string{"t_mem", "n_mem", "f_mem", "t_disk", "f_disk", "t_cpu"}
		for k := range vals {
			v, err := num(l, fmt.Sprintf("node %q: %s", n.Name, names[k]), f[k+1])
			if err != nil {
				return err
			}
			vals[k] = v
		}
		n.TotalMem, n.NodeMem, n.FreeMem, n.TotalDisk, n.FreeDisk = vals[0], vals[1], vals[2], vals[3], vals[4]
		n.CPUs = int(vals[5])
	}
	if len(f) > 9 {
		v, err := num(l, fmt.Sprintf("node %q: spindles", n.Name), f[9])
		if err != nil {
			return err
		}
		n.Spindles = int(v)
	}
	if len(f) > 10 {
		n.Tags = csv(f[10])
	}
	p.nodeLine[n.Name] = l.no
	p.spec.Nodes = append(p.spec.Nodes, n)
	return nil
}

func (p *parser) instance(l line) error {
	f := strings.Split(l.text, "|")
	if len(f) < 10 || len(f) > 13 {
		return errf(l, "instance: want 10 to 13 fields (name|mem|disk|vcpus|status|auto_balance|pnode|snode|template|tags[|spindle_use|...]), got %d", len(f))
	}
	in := allocator.Instance{Name: f[0], RunState: f[4], Primary: f[6], Secondary: f[7],
		Template: allocator.DiskTemplate(f[8]), Tags: csv(f[9]), SpindleUse: 1}
	if in.Name == "" {
		return errf(l, "instance: empty name")
	}
	if p.instSeen[in.Name] {
		return errf(l, "instance %q: duplicate", in.Name)
	}
	var err error
	if in.Mem, err = num(l, fmt.Sprintf("instance %q: mem", in.Name), f[1]); err != nil {
		return err
	}
	if in.Disk, err = num(l, fmt.Sprintf("instance %q: disk", in.Name), f[2]); err != nil {
		return err
	}
	vc, err := num(l, fmt.Sprintf("instance %q: vcpus", in.Name), f[3])
	if err != nil {
		return err
	}
	in.VCPUs = int(vc)
	if !allocator.ValidRunState(in.RunState) {
		return errf(l, "instance %q: unknown status %q", in.Name, in.RunState)
	}
	switch f[5] {
	case "Y":
		in.AutoBalance = true
	case "N":
	default:
		return errf(l, "instance %q: auto_balance %q is not Y or N", in.Name, f[5])
	}
	if _, ok := p.nodeLine[in.Primary]; !ok {
		return errf(l, "instance %q: unknown primary node %q", in.Name, in.Primary)
	}
	if in.Secondary != "" {
		if _, ok := p.nodeLine[in.Secondary]; !ok {
			return errf(l, "instance %q: unknown secondary node %q", in.Name, in.Secondary)
		}
		if in.Secondary == in.Primary {
			return errf(l, "instance %q: same primary and secondary node %q", in.Name, in.Primary)
		}
	}
	if !in.Template.Valid() {
		return errf(l, "instance %q: unknown disk template %q", in.Name, f[8])
	}
	if len(f) > 10 {
		su, err := num(l, fmt.Sprintf("instance %q: spindle_use", in.Name), f[10])
		if err != nil {
			return err
		}
		in.SpindleUse = int(su)
	}
	p.instSeen[in.Name] = true
	p.spec.Instances = append(p.spec.Instances, in)
	return nil
}

func (p *parser) policy(l line) error {
	f := strings.Split(l.text, "|")
	var std, minmax, tmpls, vr, sr string
	switch len(f) {
	case 6:
		std, minmax, tmpls, vr, sr = f[1], f[2], f[3], f[4], f[5]
	case 7:
		std, minmax, tmpls, vr, sr = f[1], f[2]+";"+f[3], f[4], f[5], f[6]
	default:
		return errf(l, "ipolicy: want 6 fields (owner|std|min;max|templates|vcpu_ratio|spindle_ratio), got %d", len(f))
	}
	var pol allocator.IPolicy
	var err error
	if pol.Std, err = ispec(l, "std", std); err != nil {
		return err
	}
	specs := strings.Split(minmax, ";")
	if minmax == "" {
		specs = nil // no bounds (as written for a policy without any)
	}
	if len(specs)%2 != 0 {
		return errf(l, "ipolicy: min/max specs come in pairs, got %d", len(specs))
	}
	for k := 0; k < len(specs); k += 2 {
		mn, err := ispec(l, "min", specs[k])
		if err != nil {
			return err
		}
		mx, err := ispec(l, "max", specs[k+1])
		if err != nil {
			return err
		}
		pol.MinMax = append(pol.MinMax, allocator.MinMax{Min: mn, Max: mx})
	}
	for _, t := range csv(tmpls) {
		dt := allocator.DiskTemplate(t)
		if !dt.Valid() {
			return errf(l, "ipolicy: unknown disk template %q", t)
		}
		pol.Templates = append(pol.Templates, dt)
	}
	if pol.VCPURatio, err = ratio(l, "ipolicy: vcpu_ratio", vr); err != nil {
		return err
	}
	if pol.SpindleRatio, err = ratio(l, "ipolicy: spindle_ratio", sr); err != nil {
		return err
	}
	if f[0] == "" {
		p.spec.Policy = pol
		return nil
	}
	gi, ok := p.groupIx[f[0]]
	if !ok {
		return errf(l, "ipolicy: unknown group %q", f[0])
	}
	p.spec.Groups[gi].Policy = &pol
	return nil
}

func ispec(l line, what, s string) (allocator.ISpec, error) {
	f := strings.Split(s, ",")
	if len(f) != 6 {
		return allocator.ISpec{}, errf(l, "ipolicy: %s spec: want 6 numbers (mem,cpu,disk,disk_count,nic_count,spindle_use), got %d", what, len(f))
	}
	v := make([]int64, 6)
	for k := range f {
		x, err := num(l, "ipolicy: "+what+" spec", f[k])
		if err != nil {
			return allocator.ISpec{}, err
		}
		v[k] = x
	}
	return allocator.ISpec{Mem: v[0], CPUs: int(v[1]), Disk: v[2], DiskCount: int(v[3]), NICCount: int(v[4]), SpindleUse: int(v[5])}, nil
}
