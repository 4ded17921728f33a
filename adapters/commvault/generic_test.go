package commvault

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var genericSeeds = []string{
	`{"errorMessage": "", "errorCode": 0}`, `{"errorCode":0,"errorMessage":""}`, "\n{ \"errorCode\" :\t404 , \"errorMessage\":\"Page not found\" }\r\n",
	`{}`, ` { } `, `{"errorCode":null}`, `{"errorCode":-1}`, `{"errorCode":-0}`, `{"errorCode":012}`, `{"errorCode":1.0}`, `{"errorCode":1e2}`,
	`{"errorCode":1234567890}`, `{"errorCode":99999999999999999999}`, `{"errorcode":5}`, `{"ErrorCode":5}`, `{"errorCode":1,"errorCode":null}`,
	`{"errorMessage":"a\"b"}`, `{"errorMessage":"\u00e9"}`, "{\"errorMessage\":\"\xff\"}", `{"errorMessage":null}`, `{"errorCode":"0"}`,
	`{"errorCode":0,}`, `{"errorCode":0}x`, `{"errorCode":0} {}`, `{"token":"QSDK a"}`, `[]`, ``, `{`, `{"errorCode":0`, `nul`, `{"errorCode":nul}`,
	`{"errorCode":nullx}`, `{"errorMessage":"é","errorCode":3}`,
}

// TestParseGenericFastPath: the common answers are read without
// json.Unmarshal, and what is read is what json.Unmarshal reads.
func TestParseGenericFastPath(t *testing.T) {
	for _, s := range []string{`{"errorMessage": "", "errorCode": 0}`, `{"errorCode":0,"errorMessage":""}`, `{"errorCode":404,"errorMessage":"Page not found"}`} {
		if _, ok := parsePlainGeneric([]byte(s)); !ok {
			t.Errorf("%s: not read by the fast path", s)
		}
	}
	for _, s := range genericSeeds {
		sameAsUnmarshal(t, []byte(s))
	}
}

func sameAsUnmarshal(t *testing.T, b []byte) {
	t.Helper()
	var want genericResp
	wantOK := json.Unmarshal(b, &want) == nil
	got, ok := parseGeneric(b)
	if ok != wantOK || (ok && !cmp.Equal(got, want)) {
		t.Fatalf("%q: parsed %+v (ok %v), json.Unmarshal %+v (ok %v)", b, got, ok, want, wantOK)
	}
	if fast, fok := parsePlainGeneric(b); fok && (!wantOK || !cmp.Equal(fast, want)) {
		t.Fatalf("%q: the fast path read %+v, json.Unmarshal %+v (ok %v)", b, fast, want, wantOK)
	}
}

func FuzzParseGeneric(f *testing.F) {
	for _, s := range genericSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(sameAsUnmarshal)
}

// BenchmarkParseGeneric: the answer to every update, read by the fast path
// and by json.Unmarshal.
func BenchmarkParseGeneric(b *testing.B) {
	body := []byte(`{"errorCode":0,"errorMessage":""}` + "\n")
	b.Run("fast path", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := parsePlainGeneric(body); !ok {
				b.Fatal("not read")
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var g genericResp
			if err := json.Unmarshal(body, &g); err != nil {
				b.Fatal(err)
			}
		}
	})
}
