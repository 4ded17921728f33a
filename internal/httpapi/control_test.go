package httpapi

import (
	"bytes"
	"testing"
)

// controlRune is the check hasControl replaced, by rune.
func controlRune(v []byte) bool {
	return bytes.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0
}

// TestHasControl: the byte loop finds a control character exactly where
// the rune check did, for every byte alone and between text, valid and
// invalid UTF-8 included.
func TestHasControl(t *testing.T) {
	for c := range 256 {
		for _, v := range [][]byte{{byte(c)}, []byte("abc" + string(rune(c)) + "é"), append([]byte("\xe2\x80"), byte(c)), append([]byte{0xc2}, byte(c), 'x')} {
			if got, want := hasControl(v), controlRune(v); got != want {
				t.Errorf("hasControl(%q) = %v, the rune check %v", v, got, want)
			}
		}
	}
}

func FuzzHasControl(f *testing.F) {
	for _, s := range []string{"", "application/json", "a\tb", "a\x00b", "\x7f", "\u0085", "\xc2\x85", "\xff\x1f", "日本"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if got, want := hasControl(v), controlRune(v); got != want {
			t.Errorf("hasControl(%q) = %v, the rune check %v", v, got, want)
		}
	})
}

// BenchmarkHeaderControl is the control check over a usual request's
// header values, by rune as before and by byte.
func BenchmarkHeaderControl(b *testing.B) {
	values := [][]byte{[]byte("127.0.0.1:8080"), []byte("application/json"), []byte("lb-1733212345678901234-42"),
		[]byte("Go-http-client/1.1"), []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), []byte("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")}
	b.Run("IndexFunc", func(b *testing.B) {
		for b.Loop() {
			for _, v := range values {
				if controlRune(v) {
					b.Fatal("control")
				}
			}
		}
	})
	b.Run("bytes", func(b *testing.B) {
		for b.Loop() {
			for _, v := range values {
				if hasControl(v) {
					b.Fatal("control")
				}
			}
		}
	})
}

// TestCheckJSON: the plain type's shortcut agrees with the parse, and the
// parse still decides every other spelling.
func TestCheckJSON(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/json": true, "Application/JSON": true, "application/json; charset=utf-8": true,
		"application/json;charset=UTF-8": true, "application/scim+json": true, "application/json; charset=latin1": false,
		"application/jsonx": false, "text/plain": false, "": false, "application/json;": true, "application/json ": true,
	} {
		if err := checkJSON(ct); (err == nil) != ok {
			t.Errorf("checkJSON(%q) = %v, want accepted %v", ct, err, ok)
		}
	}
}

func BenchmarkCheckJSON(b *testing.B) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8"} {
		b.Run(ct, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if checkJSON(ct) != nil {
					b.Fatal("refused")
				}
			}
		})
	}
}
