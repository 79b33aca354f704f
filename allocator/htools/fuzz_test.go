package htools

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzParse: malformed input gives a *ParseError with a line number inside the
// input, never a panic; what parses writes out and parses back the same.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/n1-example.data"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(good))
	f.Add([]byte(good + "|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|plain,drbd|4.0|32.0\n"))
	f.Add([]byte("g|u|preferred||\n\nn1|?|?|?|?|?|?|Y|u\n\n\n\n"))
	f.Add([]byte("\n\n\n\n"))
	f.Add([]byte("a|b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseBytes(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			lines := bytes.Count(data, []byte("\n")) + 1
			if pe.Line < 0 || pe.Line > lines {
				t.Fatalf("line %d outside the input (%d lines): %v", pe.Line, lines, err)
			}
			return
		}
		var a bytes.Buffer
		if err := Write(&a, c); err != nil {
			t.Fatal(err)
		}
		c2, err := ParseBytes(a.Bytes())
		if err != nil {
			t.Fatalf("written output does not parse: %v\n%q", err, a.String())
		}
		var b bytes.Buffer
		if err := Write(&b, c2); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Fatalf("write/parse/write not stable:\n%q\n%q", a.String(), b.String())
		}
	})
}
