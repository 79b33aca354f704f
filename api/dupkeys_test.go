package api

import (
	"bytes"
	"strings"
	"testing"
)

func TestDecodeStrictDuplicateKeys(t *testing.T) {
	for _, c := range []struct {
		body string
		dup  string // "" when accepted
	}{
		{`{"name":"a","name":"b"}`, `"name" in body`},
		{`{"name":"a","Name":"b"}`, `"Name" in body`},
		{`{"ops":[{"kind":"x","params":{"name":"a","name":"b"}}]}`, `"name" in body.ops[].params`},
		{`{"ops":[{"kind":"x","kind":"y"}]}`, `"kind" in body.ops[]`},
		{`{"a":{"name":1},"b":{"name":2}}`, ""},
		{`{"name":"a","tags":["name","name"]}`, ""},
		{`[{"k":1},{"k":2}]`, ""},
		{`{"a":{"x":{}}, "b":1, "a":2}`, `"a" in body`},
	} {
		k, where, found := duplicateKey([]byte(c.body))
		got := ""
		if found {
			got = quoteShort(k) + " in " + where
		}
		if got != c.dup {
			t.Errorf("duplicateKey(%s) = %q, want %q", c.body, got, c.dup)
		}
	}
	var n NodeAdd
	err := DecodeStrict(bytes.NewReader([]byte(`{"name":"n1","name":"node.evil"}`)), &n)
	if CodeOf(err) != CodeWrongInput || !strings.Contains(err.Error(), "duplicate key") {
		t.Errorf("DecodeStrict with a duplicate key = %v, want wrong_input", err)
	}
	if err := DecodeStrict(strings.NewReader(`{"name":"n1"}`), &n); err != nil || n.Name != "n1" {
		t.Errorf("DecodeStrict = %v, %+v", err, n)
	}
	if err := DecodeStrict(strings.NewReader(`{"name":"n1"} x`), &n); CodeOf(err) != CodeWrongInput {
		t.Errorf("trailing data = %v", err)
	}
}
