package api

import (
	"strings"
	"testing"
)

func TestValidHostname(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	long := strings.Repeat(label63+".", 4)[:254]
	tests := []struct {
		name string
		ok   bool
	}{
		{"node1", true},
		{"n", true},
		{"1node", true},
		{"node-1.example.com", true},
		{"Node1", true},
		{label63, true},
		{label63 + ".x", true},
		{strings.Repeat(label63+".", 3) + strings.Repeat("a", 61), true},
		{"", false},
		{long, false},
		{"a" + label63, false},
		{"-node", false},
		{"node-", false},
		{"no_de", false},
		{"node.", false},
		{".node", false},
		{"a..b", false},
		{"nöde", false},
		{"node 1", false},
		{"node/1", false},
		{"node\x00", false},
		{"../etc", false},
		{"node%2f", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidHostname(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidHostname(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && CodeOf(err) != CodeWrongInput {
				t.Fatalf("code %s, want wrong_input", CodeOf(err))
			}
		})
	}
}

func TestParseJobID(t *testing.T) {
	for _, s := range []string{"", "0", "01", "-1", "+1", "1.0", "1e3", " 1", "18446744073709551616", "abc"} {
		if _, err := parseJobID(s); CodeOf(err) != CodeWrongInput {
			t.Errorf("parseJobID(%q) = %v, want wrong_input", s, err)
		}
	}
	if id, err := parseJobID("18446744073709551615"); err != nil || id != 1<<64-1 {
		t.Errorf("max uint64: %d %v", id, err)
	}
}

func TestDecodeStrict(t *testing.T) {
	type T struct {
		A int    `json:"a"`
		B string `json:"b"`
	}
	bad := []string{"", " ", "{", "{}{}", `{"a":1} x`, `{"c":1}`, `{"a":"x"}`, `[]`, `{"a":1,}`, `{"a":1e400}`}
	for _, in := range bad {
		var v T
		if err := DecodeStrict(strings.NewReader(in), &v); CodeOf(err) != CodeWrongInput {
			t.Errorf("DecodeStrict(%q) = %v, want wrong_input", in, err)
		}
	}
	var v T
	if err := DecodeStrict(strings.NewReader(` {"a":1,"b":"x"} `+"\n"), &v); err != nil || v.A != 1 {
		t.Fatalf("good input: %v %+v", err, v)
	}
}

func TestJobSubmitValidate(t *testing.T) {
	good := JobSubmit{Ops: []OpCode{MustOp(OpDebugDelay, DebugDelay{Duration: "1s"})}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []JobSubmit{
		{},
		{Ops: []OpCode{{Kind: "nope", Params: []byte(`{}`)}}},
		{Ops: []OpCode{{Kind: OpDebugDelay}}},
		{Ops: []OpCode{{Kind: OpDebugDelay, Params: []byte(`{"duration":"1s","x":1}`)}}},
		{Ops: []OpCode{{Kind: OpDebugDelay, Params: []byte(`{"duration":"2h"}`)}}},
		{Ops: []OpCode{{Kind: OpNodeAdd, Params: []byte(`{"name":"bad_name"}`)}}},
		{Ops: []OpCode{{Kind: OpNodeRemove, Params: []byte(`{}`)}}},
		{Ops: []OpCode{{Kind: OpNodeModify, Params: []byte(`{"name":"n1"}`)}}},
		{Ops: good.Ops, Priority: 20},
		{Ops: good.Ops, Priority: -21},
		{Ops: make([]OpCode, MaxOpsPerJob+1)},
	}
	for i, s := range bad {
		if err := s.Validate(); CodeOf(err) != CodeWrongInput {
			t.Errorf("case %d: %v, want wrong_input", i, err)
		}
	}
}
