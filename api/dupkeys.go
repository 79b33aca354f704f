package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// jsonFrame is an open object or array while duplicateKey scans.
type jsonFrame struct {
	keys    map[string]bool // nil for an array
	path    string          // where this value is, such as body.ops[].params
	lastKey string
	wantKey bool // object: the next token is a key
}

// duplicateKey returns the first key that appears twice in one object of
// the first JSON value in data, and the path of that object. Keys are
// compared as encoding/json matches them to struct fields, without regard to
// case: {"name":"a","Name":"b"} would otherwise silently keep "b". Malformed
// JSON is not reported here (the strict decoder reports it).
func duplicateKey(data []byte) (key, where string, found bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*jsonFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "", false
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.wantKey {
			if k, ok := tok.(string); ok {
				fk := strings.ToLower(k)
				if top.keys[fk] {
					return k, top.path, true
				}
				top.keys[fk], top.lastKey, top.wantKey = true, k, false
				continue
			}
		}
		if top != nil && top.keys != nil {
			top.wantKey = true // a value was read, or the object ends
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			f := &jsonFrame{path: "body"}
			switch {
			case top != nil && top.keys != nil:
				f.path = top.path + "." + top.lastKey
			case top != nil:
				f.path = top.path + "[]"
			}
			if tok == json.Delim('{') {
				f.keys, f.wantKey = map[string]bool{}, true
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return "", "", false
		}
	}
}
