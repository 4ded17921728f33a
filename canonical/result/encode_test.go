package result

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// hostile are strings whose encoding goes through every branch of
// encoding/json's appendString: named and \u00XX escapes, HTML escapes,
// U+2028/U+2029, invalid UTF-8 (a lone continuation byte, a truncated
// sequence, an encoded surrogate, an overlong form, 0xff), DEL, and valid
// multi-byte runes next to all of those.
var hostile = []string{
	"",
	"plain",
	`"quoted"`,
	`back\slash`,
	"\x00\x01\x07\x1f",
	"\b\f\n\r\t",
	"<script>&amp;</script>",
	"a\u2028b\u2029c",
	"\u2027\u202a",
	"\x7f",
	"é日本語🙂",
	"\xff",
	"\x80abc",
	"abc\xe2\x80",
	"\xed\xa0\x80",
	"\xc0\xaf",
	"\xf4\x90\x80\x80",
	"mixed \"<\xff>\" \u2028 \\ \t é",
	"\ufffd",
	"/v1/users/42?x=1&y=2",
}

// checkSame fails the test unless AppendJSON and json.Marshal agree on r:
// the same bytes, or both an error with the same text. It also checks
// that AppendJSON appends to what b already holds and leaves it intact on
// error.
func checkSame(t testing.TB, r *Result) {
	t.Helper()
	want, wantErr := json.Marshal(r)
	got, gotErr := r.AppendJSON(nil)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("errors differ: json.Marshal %v, AppendJSON %v\nvalue: %#v", wantErr, gotErr, r)
	}
	if wantErr != nil {
		if wantErr.Error() != gotErr.Error() {
			t.Fatalf("error text differs:\njson.Marshal: %v\nAppendJSON:   %v", wantErr, gotErr)
		}
		if len(got) != 0 {
			t.Fatalf("AppendJSON returned %q with its error", got)
		}
	} else if !bytes.Equal(got, want) {
		t.Fatalf("output differs:\njson.Marshal: %s\nAppendJSON:   %s\nvalue: %#v", want, got, r)
	}

	prefix := []byte("prefix")
	got, _ = r.AppendJSON(prefix)
	wantPrefixed := append([]byte("prefix"), want...)
	if wantErr != nil {
		wantPrefixed = prefix
	}
	if !bytes.Equal(got, wantPrefixed) {
		t.Fatalf("appending to a prefix: got %q, want %q", got, wantPrefixed)
	}

	// The per-target map alone, as the idempotency store encodes it.
	if r == nil {
		return
	}
	wantT, wantTErr := json.Marshal(r.Results)
	gotT, gotTErr := AppendTargets([]byte("prefix"), r.Results)
	switch {
	case (wantTErr != nil) != (gotTErr != nil):
		t.Fatalf("targets: errors differ: json.Marshal %v, AppendTargets %v", wantTErr, gotTErr)
	case wantTErr != nil && string(gotT) != "prefix":
		t.Fatalf("targets: AppendTargets returned %q with its error", gotT)
	case wantTErr == nil && !bytes.Equal(gotT, append([]byte("prefix"), wantT...)):
		t.Fatalf("targets: output differs:\njson.Marshal:  %s\nAppendTargets: %s", wantT, gotT)
	}
}

func TestAppendJSONCases(t *testing.T) {
	full := CallSummary{Name: "put user", Method: "PUT", Path: "/V4/user/42", Status: 200,
		AttemptStatuses: []AttemptStatus{{Status: 503}, {Outcome: "timeout"}, {}, {Status: -1}, {Status: 200, Outcome: "ignored"}},
		Planned:         true,
		Header:          map[string]string{"Content-Type": "application/json", "Authorization": "[redacted]", "X-<&>": "a\u2028b", "": ""},
		Body:            json.RawMessage(" {\n \"a\" : [1, 2.5e3, true, null],\t\"h\":\"<&>\u2028\" } "),
	}
	errBody := &ErrorBody{Code: canonical.CodeInvalidRequest, Message: "bad <input> & \"more\"", VendorStatus: 422, RetryAfter: 30,
		Fields: []canonical.FieldError{{Field: "user.email", Target: "commvault", Message: "taken"}, {Field: "user.avatar", Message: "too big"}}}
	cases := []struct {
		name string
		r    *Result
	}{
		{"nil result", nil},
		{"zero", &Result{}},
		{"empty maps", &Result{Results: map[string]Target{}, SkippedFields: map[string][]canonical.Field{}}},
		{"dry run and trace", &Result{ID: "jdoe", Status: StatusPlanned, DryRun: true, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}},
		{"zero target", &Result{Results: map[string]Target{"a": {}}}},
		{"every target field", &Result{ID: "u", Status: StatusPartial, Results: map[string]Target{
			"commvault": {Status: StatusFailed, VendorID: "42", Attempts: 3, DurationMS: 1234567890123, Applied: []canonical.Field{canonical.FieldEmail, canonical.FieldDisplayName},
				Calls: []CallSummary{full, {Method: "GET", Path: "/"}}, Error: errBody, Replayed: true, Verified: true},
			"frontier": {Status: StatusApplied, Attempts: -7, DurationMS: -1},
		}}},
		{"empty slices under omitempty", &Result{Results: map[string]Target{"a": {
			Applied: []canonical.Field{}, Calls: []CallSummary{{AttemptStatuses: []AttemptStatus{}, Header: map[string]string{}, Body: json.RawMessage{}}},
		}}}},
		{"error without optional fields", &Result{Results: map[string]Target{"a": {Error: &ErrorBody{}}}}},
		{"error with empty field list", &Result{Results: map[string]Target{"a": {Error: &ErrorBody{Fields: []canonical.FieldError{}}}}}},
		{"error field list of zero values", &Result{Results: map[string]Target{"a": {Error: &ErrorBody{Fields: make([]canonical.FieldError, 2)}}}}},
		{"skipped fields nil, empty and set", &Result{SkippedFields: map[string][]canonical.Field{
			"a": nil, "b": {}, "c": {canonical.FieldPassword, "<odd>"},
		}}},
		// Keys sort by their raw bytes, not by their escaped form: '<' is
		// 0x3c but escapes to a backslash (0x5c), and "\xff" sorts last
		// though it is written as \ufffd.
		{"key order", &Result{Results: map[string]Target{
			"b": {}, "a": {}, "a<": {}, "a;": {}, "a=": {}, "\\": {}, "é": {}, "\xff": {}, "\x00": {}, "": {}, "A": {}, "aa": {},
		}, SkippedFields: map[string][]canonical.Field{"z": nil, "Z": nil, "<": nil, "\u2028": nil}}},
		{"many targets", &Result{Results: map[string]Target{
			"t01": {}, "t02": {}, "t03": {}, "t04": {}, "t05": {}, "t06": {}, "t07": {}, "t08": {}, "t09": {}, "t10": {}, "t11": {}, "t12": {},
		}}},
		{"attempt outcomes", &Result{Results: map[string]Target{"a": {Calls: []CallSummary{{AttemptStatuses: []AttemptStatus{
			{Outcome: "reset"}, {Outcome: "<&>"}, {Outcome: "\xff\u2029"}, {Status: 1 << 40}, {Status: -1 << 63},
		}}}}}}},
		{"body scalar", &Result{Results: map[string]Target{"a": {Calls: []CallSummary{{Body: json.RawMessage(`"x<y"`)}}}}}},
		{"body with escapes kept", &Result{Results: map[string]Target{"a": {Calls: []CallSummary{{Body: json.RawMessage(`{"a":"\u00e9\n\"","b":-0.0e-5}`)}}}}}},
		{"body invalid", &Result{Results: map[string]Target{"a": {Calls: []CallSummary{{Body: json.RawMessage(`{"a":`)}}}}}},
		{"body whitespace only", &Result{Results: map[string]Target{"a": {Calls: []CallSummary{{Body: json.RawMessage(" \n")}}}}}},
		{"body two values", &Result{Results: map[string]Target{"a": {Calls: []CallSummary{{Body: json.RawMessage(`1 2`)}}}}}},
		{"body invalid UTF-8 in string", &Result{Results: map[string]Target{"a": {Calls: []CallSummary{{Body: json.RawMessage("\"\xff\"")}}}}}},
		{"second target's body invalid", &Result{Results: map[string]Target{
			"a": {Calls: []CallSummary{{Body: json.RawMessage(`{}`)}}},
			"b": {Calls: []CallSummary{{Body: json.RawMessage(`[1,]`)}}},
		}}},
	}
	for i, s := range hostile {
		cases = append(cases, struct {
			name string
			r    *Result
		}{"hostile " + string(rune('a'+i)), hostileResult(s)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkSame(t, tc.r) })
	}
}

// hostileResult puts s into every string of a result, keys included.
func hostileResult(s string) *Result {
	return &Result{ID: s, Status: Status(s), DryRun: true, TraceID: s,
		Results: map[string]Target{s: {Status: Status(s), VendorID: s, Applied: []canonical.Field{canonical.Field(s)},
			Calls: []CallSummary{{Name: s, Method: s, Path: s, AttemptStatuses: []AttemptStatus{{Outcome: s}},
				Header: map[string]string{s: s, s + "x": s}}},
			Error: &ErrorBody{Code: canonical.Code(s), Message: s, Fields: []canonical.FieldError{{Field: s, Target: s, Message: s}}},
		}},
		SkippedFields: map[string][]canonical.Field{s: {canonical.Field(s)}}}
}

// TestAppendJSONInvalidBody: json.Marshal fails on a body that is not JSON,
// so AppendJSON must too, and leave the buffer as it was.
func TestAppendJSONInvalidBody(t *testing.T) {
	r := &Result{ID: "u", Results: map[string]Target{"a": {Calls: []CallSummary{{Method: "PUT", Body: json.RawMessage(`{"a":}`)}}}}}
	if _, err := json.Marshal(r); err == nil {
		t.Fatal("json.Marshal took an invalid body")
	}
	b, err := r.AppendJSON([]byte("kept"))
	if err == nil {
		t.Fatal("AppendJSON took an invalid body")
	}
	if string(b) != "kept" {
		t.Errorf("buffer after the error: %q", b)
	}
}

// TestAppendJSONRandom compares the two encoders on many random results
// (a fixed seed, so a failure is reproducible).
func TestAppendJSONRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 5000
	if testing.Short() {
		n = 500
	}
	for range n {
		checkSame(t, randomResult(rng))
	}
}

func randomResult(rng *rand.Rand) *Result {
	r := &Result{ID: randString(rng), Status: Status(randString(rng)), DryRun: rng.IntN(2) == 0, TraceID: randString(rng)}
	if rng.IntN(5) > 0 {
		r.Results = map[string]Target{}
		for range rng.IntN(12) {
			r.Results[randString(rng)] = randomTarget(rng)
		}
	}
	if rng.IntN(5) > 0 {
		r.SkippedFields = map[string][]canonical.Field{}
		for range rng.IntN(4) {
			r.SkippedFields[randString(rng)] = randFields(rng)
		}
	}
	return r
}

func randomTarget(rng *rand.Rand) Target {
	t := Target{Status: Status(randString(rng)), VendorID: randString(rng), Attempts: randInt(rng), DurationMS: int64(randInt(rng)) * int64(rng.IntN(1<<20)),
		Applied: randFields(rng), Replayed: rng.IntN(2) == 0, Verified: rng.IntN(2) == 0}
	switch rng.IntN(3) {
	case 0:
	case 1:
		t.Calls = []CallSummary{}
	default:
		for range rng.IntN(4) + 1 {
			t.Calls = append(t.Calls, randomCall(rng))
		}
	}
	if rng.IntN(2) == 0 {
		e := &ErrorBody{Code: canonical.Code(randString(rng)), Message: randString(rng), VendorStatus: randInt(rng), RetryAfter: randInt(rng)}
		switch rng.IntN(3) {
		case 0:
		case 1:
			e.Fields = []canonical.FieldError{}
		default:
			for range rng.IntN(3) + 1 {
				e.Fields = append(e.Fields, canonical.FieldError{Field: randString(rng), Target: randString(rng), Message: randString(rng)})
			}
		}
		t.Error = e
	}
	return t
}

// bodies are valid JSON in odd layouts, with a few invalid ones among them
// (which must make both encoders fail).
var bodies = []string{
	`{}`, `[]`, `null`, `0`, `-1.5e+10`, `"s"`, ` { "a" : 1 , "b" : [ true , false , null ] } `,
	"{\"h\":\"<&>\u2028\u2029\",\"u\":\"\\u003c\\ud83d\\ude00\"}", "[\n\t1,\r\n2\n]", `{"nested":{"deep":[[[{}]]]}}`,
	`{"a":}`, `[1,]`, `tru`, ` `, `01`, `{"a":1}x`, "\"\x01\"",
}

func randomCall(rng *rand.Rand) CallSummary {
	c := CallSummary{Name: randString(rng), Method: randString(rng), Path: randString(rng), Status: randInt(rng), Planned: rng.IntN(2) == 0}
	switch rng.IntN(3) {
	case 0:
	case 1:
		c.AttemptStatuses = []AttemptStatus{}
	default:
		for range rng.IntN(4) + 1 {
			c.AttemptStatuses = append(c.AttemptStatuses, AttemptStatus{Status: randInt(rng), Outcome: randString(rng)})
		}
	}
	switch rng.IntN(3) {
	case 0:
	case 1:
		c.Header = map[string]string{}
	default:
		c.Header = map[string]string{}
		for range rng.IntN(4) + 1 {
			c.Header[randString(rng)] = randString(rng)
		}
	}
	switch rng.IntN(4) {
	case 0:
	case 1:
		c.Body = json.RawMessage{}
	default:
		// Mostly valid: an invalid body makes the whole result an error,
		// which would leave the other fields less tested.
		if rng.IntN(10) == 0 {
			c.Body = json.RawMessage(bodies[rng.IntN(len(bodies))])
		} else {
			c.Body = json.RawMessage(bodies[rng.IntN(10)])
		}
	}
	return c
}

func randFields(rng *rand.Rand) []canonical.Field {
	switch rng.IntN(3) {
	case 0:
		return nil
	case 1:
		return []canonical.Field{}
	}
	fs := make([]canonical.Field, rng.IntN(4)+1)
	for i := range fs {
		fs[i] = canonical.Field(randString(rng))
	}
	return fs
}

// randInt is mostly zero (to exercise omitempty), else small, negative or
// at the limits.
func randInt(rng *rand.Rand) int {
	switch rng.IntN(6) {
	case 0, 1:
		return 0
	case 2:
		return rng.IntN(600)
	case 3:
		return -rng.IntN(1000)
	case 4:
		return int(rng.Int64())
	}
	return []int{1<<63 - 1, -1 << 63, 1, -1}[rng.IntN(4)]
}

// randString is mostly empty or short, built from the hostile strings and
// random bytes.
func randString(rng *rand.Rand) string {
	switch rng.IntN(4) {
	case 0:
		return ""
	case 1:
		return hostile[rng.IntN(len(hostile))]
	}
	b := make([]byte, rng.IntN(12))
	for i := range b {
		switch rng.IntN(4) {
		case 0:
			b[i] = byte(rng.IntN(256))
		case 1:
			b[i] = byte(rng.IntN(0x20))
		default:
			b[i] = "az<>&\"\\ /é"[rng.IntN(11)]
		}
	}
	if rng.IntN(4) == 0 {
		b = append(b, []string{"\u2028", "\u2029", "日", "🙂", "\xe2\x80"}[rng.IntN(5)]...)
	}
	return string(b)
}

// FuzzAppendJSON builds a result from fuzzed strings and numbers, each
// put in several places (a key as well as a value), and compares the two
// encoders. A body that is not JSON must make both fail.
func FuzzAppendJSON(f *testing.F) {
	f.Add("jdoe", "applied", "commvault", "42", 1, int64(120), "display_name", "PUT", "/V4/user/42", 200, "timeout",
		"Content-Type", "application/json", []byte(`{"a":"<b>"}`), uint16(0xffff), "upstream_error", "vendor said no")
	f.Add("", "", "", "", 0, int64(0), "", "", "", 0, "", "", "", []byte(nil), uint16(0), "", "")
	f.Add("\xff<", "\u2028", "a\x00b", "\"\\", -1, int64(-1<<63), "é", "\t", "&", -200, "\x7f", "\xe2\x80", "\u2029", []byte(`[1,]`), uint16(0x5555), "<&>", "\b\f")
	f.Add("x", "y", "z", "", 1<<62, int64(1<<63-1), "f", "G", "/", 0, "", "k", "v", []byte(" \n{ } "), uint16(0xaaaa), "c", "m")
	f.Add("\u2029>", "\xed\xa0\x80", "\x1f\\", "<", 7, int64(99), "\u2028", "\xc0\xaf", "&&", 503, "\U0001F642", "\u2029", "\xff",
		[]byte("{\"k\" : \"<\u2028\u2029>\"}"), uint16(0x0055), "\x00", "\"")
	f.Add("a", "b", "c", "d", 0, int64(0), "e", "f", "g", 0, "h", "i", "j", []byte(`{"a":1}`), uint16(0x0200), "k", "l")
	f.Fuzz(func(t *testing.T, id, status, target, vendorID string, attempts int, duration int64, field, method, path string,
		callStatus int, outcome, hkey, hval string, body []byte, flags uint16, code, message string) {
		bit := func(n int) bool { return flags&(1<<n) != 0 }
		call := CallSummary{Name: target, Method: method, Path: path, Status: callStatus, Planned: bit(0),
			AttemptStatuses: []AttemptStatus{{Status: callStatus, Outcome: outcome}, {Outcome: outcome}, {}},
			Header:          map[string]string{hkey: hval, hval: hkey},
			Body:            body}
		if bit(1) {
			call.AttemptStatuses, call.Header = nil, nil
		}
		if bit(9) {
			// Most fuzzed bodies are not JSON, and then both encoders only
			// fail: without a body the rest is compared byte for byte.
			call.Body = nil
		}
		tg := Target{Status: Status(status), VendorID: vendorID, Attempts: attempts, DurationMS: duration,
			Applied: []canonical.Field{canonical.Field(field)}, Calls: []CallSummary{call, {Method: method, Path: hval}},
			Replayed: bit(2), Verified: bit(3)}
		if bit(4) {
			tg.Error = &ErrorBody{Code: canonical.Code(code), Message: message, VendorStatus: callStatus, RetryAfter: attempts,
				Fields: []canonical.FieldError{{Field: field, Target: target, Message: message}}}
		}
		if bit(5) {
			tg.Applied, tg.Calls = []canonical.Field{}, nil
		}
		r := &Result{ID: id, Status: Status(status), DryRun: bit(6), TraceID: message,
			Results:       map[string]Target{target: tg, vendorID: {Status: Status(code)}, field: {}},
			SkippedFields: map[string][]canonical.Field{field: {canonical.Field(target)}, code: nil}}
		if bit(7) {
			r.Results = nil
		}
		if bit(8) {
			r.SkippedFields = nil
		}
		checkSame(t, r)
	})
}

// TestAppendJSONGrowsOnce: the size hint covers a usual result (no escaping,
// short numbers), so encoding it allocates the buffer once, not once per
// doubling, and not far beyond what is needed.
func TestAppendJSONGrowsOnce(t *testing.T) {
	dry := benchResult()
	dry.DryRun = true
	for _, tg := range dry.Results {
		for i := range tg.Calls {
			tg.Calls[i].Planned = true
			tg.Calls[i].Header = map[string]string{"Content-Type": "application/json", "Authorization": "[redacted]"}
			tg.Calls[i].Body = json.RawMessage(`{"displayName":"Jane Doe","password":"[redacted]"}`)
		}
	}
	failed := benchResult()
	failed.SkippedFields = map[string][]canonical.Field{"frontier": {canonical.FieldAvatar, canonical.FieldPlan}}
	failed.Results["commvault"] = Target{Status: StatusFailed, VendorID: "42", Attempts: 3, DurationMS: 2500,
		Calls: []CallSummary{{Name: "put user", Method: "PUT", Path: "/V4/user/42", Status: 503,
			AttemptStatuses: []AttemptStatus{{Status: 503}, {Outcome: "timeout"}, {Status: 503}}}},
		Error: &ErrorBody{Code: canonical.CodeUpstreamUnavailable, Message: "commvault answered 503", VendorStatus: 503, RetryAfter: 30,
			Fields: []canonical.FieldError{{Field: "user.email", Target: "commvault", Message: "rejected"}}}}
	for name, r := range map[string]*Result{"applied": benchResult(), "dry run": dry, "failed": failed} {
		b, err := r.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if hint := r.sizeHint(); hint < len(b) || hint > len(b)*5/4 {
			t.Errorf("%s: size hint %d for %d bytes", name, hint, len(b))
		}
		if name == "dry run" {
			continue // a dry run's body is checked by encoding/json, which allocates
		}
		if n := testing.AllocsPerRun(10, func() { _, _ = r.AppendJSON(nil) }); n != 1 {
			t.Errorf("%s: %v allocations, want 1", name, n)
		}
	}
}

// TestAppendJSONEveryFieldSet fills every field of a Result, at every depth,
// by reflection, so that a field added to one of its types (which the other
// tests would leave zero) fails here until AppendJSON writes it.
func TestAppendJSONEveryFieldSet(t *testing.T) {
	for _, depth := range []int{1, 2} {
		var r Result
		fill(reflect.ValueOf(&r).Elem(), depth)
		checkSame(t, &r)
		if b, _ := r.AppendJSON(nil); bytes.Contains(b, []byte(":null")) {
			t.Errorf("a field was left nil: %s", b)
		}
	}
}

// fill sets v and everything in it to a non-zero value; n is the number of
// elements of each slice and map.
func fill(v reflect.Value, n int) {
	if v.Type() == reflect.TypeFor[json.RawMessage]() {
		v.SetBytes([]byte(` {"raw" : ["<v>", 1] } `))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s<" + v.Type().Name() + ">\u2028")
	case reflect.Int, reflect.Int64:
		v.SetInt(-42)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := range n {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, n)
			k.SetString(k.String() + strconv.Itoa(i))
			fill(e, n)
			v.SetMapIndex(k, e)
		}
	default:
		panic("fill: add a case for " + v.Type().String())
	}
}
