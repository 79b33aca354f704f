package api

import (
	"encoding/json"
	"time"
)

// decodeInstanceList decodes a list answer of GET /instances into a slice
// of instances, giving what json.Unmarshal into []Instance gives (the same
// instances, the same error), faster (docs/scale.md, "The client side"):
// it reads the members a list answer has without reflection, keeps one
// copy of the strings many instances share (node names, states, OS), and
// hands an instance with anything else (an escaped or non-ASCII string, a
// member it does not know, a repeated member, a value of another type) to
// json.Unmarshal. hint is the page's limit (0: none).
func decodeInstanceList(data []byte, hint int) ([]Instance, error) {
	s := listScan{b: data, strs: map[string]string{}}
	// An instance takes at least 16 bytes ({"name":"a"}, and a comma): a
	// large limit does not make a large slice for a short answer.
	out, ok := s.list(min(hint, len(data)/16+1))
	if !ok {
		// Syntax or type errors: json.Unmarshal's own error (and its
		// result, which a caller does not use then).
		var v1 []Instance
		err := json.Unmarshal(data, &v1)
		return v1, err
	}
	return out, nil
}

// listScan reads a list answer; i is the position in b.
type listScan struct {
	b     []byte
	i     int
	strs  map[string]string // shared strings
	times []time.Time       // storage of ObservedAt, allocated in blocks
}

func (s *listScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next is the byte after white space (0 at the end).
func (s *listScan) next() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *listScan) eat(c byte) bool {
	if s.next() == c {
		s.i++
		return true
	}
	return false
}

func (s *listScan) literal(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// list reads the whole answer: null or an array of instance objects, then
// only white space.
func (s *listScan) list(hint int) ([]Instance, bool) {
	var out []Instance
	switch {
	case s.next() == 'n':
		if !s.literal("null") {
			return nil, false
		}
	case s.eat('['):
		out = make([]Instance, 0, hint)
		if !s.eat(']') {
			for {
				out = append(out, Instance{})
				if !s.instanceOrSlow(&out[len(out)-1]) {
					return nil, false
				}
				if s.eat(']') {
					break
				}
				if !s.eat(',') {
					return nil, false
				}
			}
		}
	default:
		return nil, false
	}
	s.ws()
	return out, s.i == len(s.b)
}

// instanceOrSlow reads one instance into the zero *in, by json.Unmarshal
// when the fast reading gives up on it.
func (s *listScan) instanceOrSlow(in *Instance) bool {
	s.ws()
	start := s.i
	if s.instance(in) {
		return true
	}
	*in = Instance{}
	s.i = start
	if !s.skip() {
		return false
	}
	return json.Unmarshal(s.b[start:s.i], in) == nil
}

// plain reads a string without escapes, of printable ASCII, and returns
// its bytes without the quotes (ok false for any other string).
func (s *listScan) plain() ([]byte, bool) {
	if s.next() != '"' {
		return nil, false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i+1 : j]
			s.i = j + 1
			return v, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// str reads a plain string or null; shared keeps one copy of each value.
func (s *listScan) str(dst *string, shared bool) bool {
	if s.next() == 'n' {
		return s.literal("null")
	}
	v, ok := s.plain()
	if !ok {
		return false
	}
	if !shared {
		*dst = string(v)
		return true
	}
	if w, ok := s.strs[string(v)]; ok {
		*dst = w
		return true
	}
	w := string(v)
	s.strs[w] = w
	*dst = w
	return true
}

// integer reads an integer of at most 18 digits in JSON's form, or null.
func (s *listScan) integer() (int64, bool) {
	if s.next() == 'n' {
		return 0, s.literal("null")
	}
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	j := s.i
	if neg {
		j++
	}
	var n int64
	d := j
	for ; j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9'; j++ {
		n = n*10 + int64(s.b[j]-'0')
	}
	digits := j - d
	if digits == 0 || digits > 18 || digits > 1 && s.b[d] == '0' {
		return 0, false
	}
	if j < len(s.b) && (s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E') {
		return 0, false
	}
	s.i = j
	if neg {
		n = -n
	}
	return n, true
}

// boolean reads true, false or null (which leaves *dst).
func (s *listScan) boolean(dst *bool) bool {
	switch s.next() {
	case 't':
		*dst = true
		return s.literal("true")
	case 'f':
		*dst = false
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return false
}

// skip passes over one value (its syntax is checked by json.Unmarshal
// of the bytes passed over).
func (s *listScan) skip() bool {
	s.ws()
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			j := s.i + 1
			for ; j < len(s.b) && s.b[j] != '"'; j++ {
				if s.b[j] == '\\' {
					j++
				}
			}
			if j >= len(s.b) {
				return false
			}
			s.i = j + 1
		case '{', '[':
			depth++
			s.i++
		case '}', ']':
			if depth == 0 {
				return false
			}
			depth--
			s.i++
		case ',', ':', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return false
			}
			s.i++
		default:
			s.i++
			for s.i < len(s.b) && !isDelim(s.b[s.i]) {
				s.i++
			}
		}
		if depth == 0 {
			return true
		}
	}
	return false
}

func isDelim(c byte) bool {
	switch c {
	case ',', ':', '{', '}', '[', ']', '"', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// raw reads one value and decodes it into v by json.Unmarshal.
func (s *listScan) raw(v any) bool {
	s.ws()
	start := s.i
	return s.skip() && json.Unmarshal(s.b[start:s.i], v) == nil
}

// timeStr reads a time (the string time.Time's UnmarshalJSON reads).
func (s *listScan) timeStr(dst *time.Time) bool {
	s.ws()
	start := s.i
	if _, ok := s.plain(); !ok {
		return false
	}
	return dst.UnmarshalJSON(s.b[start:s.i]) == nil
}

// newTime is storage for one ObservedAt.
func (s *listScan) newTime() *time.Time {
	if len(s.times) == 0 {
		s.times = make([]time.Time, 256)
	}
	t := &s.times[0]
	s.times = s.times[1:]
	return t
}
