package htools

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseExampleScoresAsHbal(t *testing.T) {
	data, err := os.ReadFile("testdata/n1-example.data")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if n, i := len(c.Nodes()), len(c.Instances()); n != 3 || i != 2 {
		t.Fatalf("got %d nodes, %d instances", n, i)
	}
	in, _ := c.Instance("inst-1")
	if in.Primary != "node-01" || in.Secondary != "node-02" || in.Mem != 4096 || in.Disk != 51200 || in.VCPUs != 2 {
		t.Fatalf("inst-1 parsed as %+v", in)
	}
	n, _ := c.Node("node-01")
	if !n.Master || n.FreeMem != 60000 || n.Group != "group-01" {
		t.Fatalf("node-01 parsed as %+v", n)
	}
	// "hbal -t testdata/n1-example.data -l 0" (ganeti-htools 3.0) prints
	// "Initial score: 2.57350413": drover's score follows hbal's components.
	if got := c.Score(); got < 2.573504 || got > 2.573505 {
		t.Fatalf("score %.8f, hbal says 2.57350413", got)
	}
}

func TestRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/n1-example.data")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	var a bytes.Buffer
	if err := Write(&a, c); err != nil {
		t.Fatal(err)
	}
	c2, err := ParseBytes(a.Bytes())
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, a.String())
	}
	var b bytes.Buffer
	if err := Write(&b, c2); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatalf("round trip differs:\n%s\n---\n%s", a.String(), b.String())
	}
	if c.Score() != c2.Score() {
		t.Fatalf("scores differ: %v %v", c.Score(), c2.Score())
	}
}

const good = "g|u|preferred||\n\nn1|1000|10|900|5000|5000|4|N|u|1\nn2|1000|10|900|5000|5000|4|N|u|1\n\ni1|100|10|1|running|Y|n1|n2|drbd||1\n\n\n"

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, data string
		line       int
		msg        string
	}{
		{"sections", "g|u|preferred||\n\n", 0, "sections"},
		{"group fields", strings.Replace(good, "g|u|preferred||", "g|u", 1), 1, "group"},
		{"alloc policy", strings.Replace(good, "preferred", "nope", 1), 1, "alloc policy"},
		{"node number", strings.Replace(good, "n1|1000|", "n1|lots|", 1), 3, "t_mem"},
		{"node negative", strings.Replace(good, "n2|1000|", "n2|-5|", 1), 4, "t_mem"},
		{"node group", strings.Replace(good, "|N|u|1\nn2", "|N|zz|1\nn2", 1), 3, "group uuid"},
		{"node role", strings.Replace(good, "|N|u|1\nn2", "|Q|u|1\nn2", 1), 3, "role"},
		{"duplicate node", strings.Replace(good, "n2|1000", "n1|1000", 1), 4, "duplicate"},
		{"instance primary", strings.Replace(good, "|n1|n2|drbd", "|nx|n2|drbd", 1), 6, "primary"},
		{"instance same nodes", strings.Replace(good, "|n1|n2|drbd", "|n1|n1|drbd", 1), 6, "same primary"},
		{"instance status", strings.Replace(good, "running", "dancing", 1), 6, "status"},
		{"instance template", strings.Replace(good, "drbd", "floppy", 1), 6, "template"},
		{"policy", good + "|1,1,1|x|drbd|4.0|32.0\n", 9, "ipolicy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBytes([]byte(tc.data))
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("want *ParseError wrapping ErrSyntax, got %v", err)
			}
			if pe.Line != tc.line || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %q (line %d), want line %d mentioning %q", err, pe.Line, tc.line, tc.msg)
			}
		})
	}
	if _, err := ParseBytes([]byte(good)); err != nil {
		t.Fatalf("the base case must parse: %v", err)
	}
}
