package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/internal/audit"
)

// sameAsMarshal fails t unless r.AppendJSON gives json.Marshal(r)'s bytes
// (after a prefix it keeps) or, where json.Marshal fails, its error.
func sameAsMarshal(t testing.TB, r *audit.Record) {
	t.Helper()
	want, werr := json.Marshal(r)
	for _, prefix := range [][]byte{nil, []byte("prefix:"), make([]byte, 3, 4096)} {
		got, gerr := r.AppendJSON(prefix)
		switch {
		case werr != nil || gerr != nil:
			if werr == nil || gerr == nil || werr.Error() != gerr.Error() || got != nil {
				t.Fatalf("record %#v:\njson.Marshal error %v\nAppendJSON   error %v (bytes %q)", r, werr, gerr, got)
			}
		case !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want):
			t.Fatalf("record %#v:\njson.Marshal %s\nAppendJSON   %s", r, want, got[min(len(prefix), len(got)):])
		}
	}
}

// sameAsJSONL fails t unless JSONLSink writes the line it wrote when it
// encoded with json.Marshal (or fails alike).
func sameAsJSONL(t testing.TB, r *audit.Record) {
	t.Helper()
	want, werr := json.Marshal(struct {
		Audit bool `json:"audit"`
		*audit.Record
	}{true, r})
	var buf bytes.Buffer
	gerr := audit.NewJSONLSink(&buf).Append(context.Background(), r)
	if werr != nil || gerr != nil {
		if werr == nil || gerr == nil || "audit jsonl: "+werr.Error() != gerr.Error() || buf.Len() != 0 {
			t.Fatalf("record %#v:\njson.Marshal error %v\njsonl error %v (wrote %q)", r, werr, gerr, buf.Bytes())
		}
		return
	}
	if want = append(want, '\n'); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("record %#v:\njson.Marshal %s\njsonl        %s", r, want, buf.Bytes())
	}
}

// hostile holds strings encoding/json escapes, or must not.
var hostile = []string{
	"", "plain", `"quoted"`, `back\slash`, `\"`, "<script>&amp;</script>", "a>b<c&d",
	"line\nfeed", "cr\r", "tab\t", "\b\f", "\x00", "\x01\x1f", "\x7f", "nul\x00in",
	"\u2028", "\u2029", "x\u2028y\u2029z", "\u2027\u202a", "é", "日本語", "🙂", "\ufffd", "\uffff",
	"\xff", "\xfe\xff", "a\xffb", "\xc3", "\xc3(", "\xe2\x80", "\xe2\x80\xa8", "\xed\xa0\x80", "\xf0\x9f\x99", "\xf4\x90\x80\x80",
	"\xc0\xaf", "'single'", "/slash/", "{}[]:,", "  spaces  ", strings.Repeat("long<", 300),
}

func TestRecordAppendJSONMatchesMarshal(t *testing.T) {
	full := audit.Record{
		ID: 42, Time: time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC),
		Action: "user.update", User: "jdoe", Client: "hr", AuthMethod: "api_key",
		Fields:  []string{"display_name", "given_name"},
		Values:  map[string]string{"given_name": "Jane", "display_name": "Jane Doe"},
		Targets: map[string]audit.TargetOutcome{"commvault": {VendorID: "42", Status: "applied"}, "acme": {Status: "failed", Code: "vendor_error"}},
		Status:  "partial", HTTPStatus: 207, DryRun: true, IdempotencyKey: "k-1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Detail: map[string]string{"run": "r1", "source": "okta", "b": "", "": "empty key"},
	}
	with := func(f func(*audit.Record)) *audit.Record {
		r := full
		f(&r)
		return &r
	}
	tests := map[string]*audit.Record{
		"nil":                   nil,
		"zero":                  {},
		"full":                  &full,
		"empty slices and maps": {Fields: []string{}, Values: map[string]string{}, Targets: map[string]audit.TargetOutcome{}, Detail: map[string]string{}},
		"nil slices and maps":   with(func(r *audit.Record) { r.Fields, r.Values, r.Targets, r.Detail = nil, nil, nil, nil }),
		"one empty field":       {Fields: []string{""}},
		"one of each":           {Fields: []string{"a"}, Values: map[string]string{"a": "1"}, Targets: map[string]audit.TargetOutcome{"t": {}}, Detail: map[string]string{"d": "x"}},
		"empty target":          {Targets: map[string]audit.TargetOutcome{"": {}}},
		"target vendor only":    {Targets: map[string]audit.TargetOutcome{"v": {VendorID: "1"}}},
		"target code only":      {Targets: map[string]audit.TargetOutcome{"v": {Code: "c"}}},
		"negative ids":          {ID: -1, HTTPStatus: -500},
		"extreme ints":          {ID: 1<<63 - 1, HTTPStatus: 1<<31 - 1},
		"min int64":             {ID: -1 << 63, HTTPStatus: -1 << 31},
		"dry run only":          {DryRun: true},
		"http status only":      {HTTPStatus: 200},
		"keys that sort": {
			Values:  map[string]string{"b": "", "a": "", "B": "", "_": "", "aa": "", "a\x00": "", "\xff": "", "\ufffd": "", "é": "", "<": "", "~": "", "A": ""},
			Targets: map[string]audit.TargetOutcome{"z": {Status: "1"}, "y": {Status: "2"}, "Z": {Status: "3"}, "zz": {Status: "4"}, "\u2028": {}, "": {}, "0": {}, "9": {}, "a": {}, "b": {}},
		},
		"many keys": {Values: manyKeys(40), Detail: manyKeys(9), Targets: manyTargets(20)},
		// Times: the store truncates to UTC microseconds, but AppendJSON is
		// for any Record.
		"zero time":           {Time: time.Time{}},
		"seconds":             {Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		"millis":              {Time: time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC)},
		"micros":              {Time: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		"nanos":               {Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		"one nano":            {Time: time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC)},
		"monotonic":           {Time: time.Now()},
		"local":               {Time: time.Date(2026, 7, 1, 12, 0, 0, 5, time.Local)},
		"new york":            {Time: time.Date(2026, 7, 1, 12, 0, 0, 5, mustZone(t, "America/New_York"))},
		"kathmandu":           {Time: time.Date(2026, 7, 1, 12, 0, 0, 5, mustZone(t, "Asia/Kathmandu"))},
		"plus 14":             {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("", 14*3600))},
		"minus 23:59":         {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("x", -(23*3600+59*60)))},
		"offset seconds":      {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("lmt", 3600+61))},
		"offset under minute": {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("lmt", -30))},
		"year 0":              {Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year 9999":           {Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		"year 1":              {Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
		// json.Marshal fails on these: so must AppendJSON, alike.
		"year -1":          {Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), User: "u"},
		"year 10000":       {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year 10000 local": {Time: time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC).In(time.FixedZone("", 2*3600))},
		"year -1 by zone":  {Time: time.Date(0, 1, 1, 0, 30, 0, 0, time.UTC).In(time.FixedZone("", -3600))},
		"huge year":        {Time: time.Unix(1<<62, 0).UTC()},
		"zone +24":         {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("", 24*3600))},
		"zone -24":         {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("", -24*3600))},
		"zone +99":         {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("", 99*3600+59*60))},
		"zone +100":        {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("", 100*3600))},
		"zone +23:59":      {Time: time.Date(2026, 7, 1, 12, 0, 0, 0, time.FixedZone("", 23*3600+59*60))},
	}
	for i, s := range hostile {
		tests[fmt.Sprintf("hostile %d %q", i, s)] = &audit.Record{
			Action: s, User: s, Client: s, AuthMethod: s, Fields: []string{s, s}, Values: map[string]string{s: s, s + "2": s},
			Targets: map[string]audit.TargetOutcome{s: {VendorID: s, Status: s, Code: s}}, Status: s, IdempotencyKey: s, TraceID: s,
			Detail: map[string]string{s: s},
		}
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			sameAsMarshal(t, r)
			sameAsJSONL(t, r)
		})
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no zoneinfo: %v", err)
	}
	return loc
}

func manyKeys(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%d", (i*7919)%n)] = fmt.Sprint(i)
	}
	return m
}

func manyTargets(n int) map[string]audit.TargetOutcome {
	m := map[string]audit.TargetOutcome{}
	for i := range n {
		m[fmt.Sprintf("t%02d", (i*31)%n)] = audit.TargetOutcome{VendorID: fmt.Sprint(i), Status: "applied"}
	}
	return m
}

// TestRecordAppendJSONRandom compares many generated records, seeded, so a
// failure repeats.
func TestRecordAppendJSONRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		r := randomRecord(rng)
		sameAsMarshal(t, r)
		if rng.IntN(4) == 0 {
			sameAsJSONL(t, r)
		}
	}
}

var zones = []*time.Location{time.UTC, time.Local, time.FixedZone("a", 3600), time.FixedZone("b", -5*3600-30*60),
	time.FixedZone("c", 45), time.FixedZone("d", 24*3600), time.FixedZone("e", -30*3600)}

func randomString(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(6) {
		switch rng.IntN(4) {
		case 0:
			b.WriteString(hostile[rng.IntN(len(hostile)-1)]) // not the long one
		case 1:
			b.WriteByte(byte(rng.IntN(256)))
		case 2:
			b.WriteRune(rune(rng.IntN(0x110000)))
		default:
			b.WriteString("abcdefghij"[:1+rng.IntN(10)])
		}
	}
	return b.String()
}

func randomMap(rng *rand.Rand) map[string]string {
	switch rng.IntN(4) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range rng.IntN(12) {
		m[randomString(rng)] = randomString(rng)
	}
	return m
}

func randomRecord(rng *rand.Rand) *audit.Record {
	r := &audit.Record{ID: rng.Int64() >> rng.IntN(64), Action: randomString(rng), User: randomString(rng),
		Client: randomString(rng), AuthMethod: randomString(rng), Status: randomString(rng),
		DryRun: rng.IntN(2) == 0, Values: randomMap(rng), Detail: randomMap(rng)}
	if rng.IntN(2) == 0 {
		r.ID = -r.ID
	}
	switch rng.IntN(5) {
	case 0:
	case 1:
		r.Time = time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
	case 2: // around the years json cannot encode
		r.Time = time.Date(rng.IntN(4)-2+[]int{0, 10000}[rng.IntN(2)], time.Month(1+rng.IntN(12)), rng.IntN(31), rng.IntN(24), 0, 0, 0, time.UTC).
			In(zones[rng.IntN(len(zones))])
	default:
		r.Time = time.Date(2020+rng.IntN(10), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60),
			rng.IntN(1e9)/[]int{1, 1000, 1e6, 1e9}[rng.IntN(4)], zones[rng.IntN(3)])
	}
	if rng.IntN(3) > 0 {
		r.HTTPStatus = rng.IntN(600) - rng.IntN(2)*rng.IntN(1000)
	}
	if rng.IntN(2) == 0 {
		r.IdempotencyKey = randomString(rng)
	}
	if rng.IntN(2) == 0 {
		r.TraceID = randomString(rng)
	}
	switch rng.IntN(3) {
	case 0:
		r.Fields = []string{}
	case 1:
		for range rng.IntN(6) {
			r.Fields = append(r.Fields, randomString(rng))
		}
	}
	switch rng.IntN(3) {
	case 0:
		r.Targets = map[string]audit.TargetOutcome{}
	case 1:
		r.Targets = map[string]audit.TargetOutcome{}
		for range rng.IntN(12) {
			r.Targets[randomString(rng)] = audit.TargetOutcome{VendorID: randomString(rng), Status: randomString(rng), Code: randomString(rng)}
		}
	}
	return r
}

// FuzzRecordAppendJSON: AppendJSON against json.Marshal. Lists are
// separated by '|', map entries by '|' with '=' between key and value, and
// a target's vendor id, status and code by ','.
func FuzzRecordAppendJSON(f *testing.F) {
	f.Add(int64(1), int64(1773500000), int64(123456000), 0, "user.update", "jdoe", "hr", "api_key", "display_name|given_name",
		"display_name=Jane Doe|given_name=Jane", "commvault=42,applied,", "applied", 200, false, "k-1", "4bf92f3577b34da6a3ce929d0e0e4736", "")
	f.Add(int64(-5), int64(-62135596800), int64(0), -3600, "<a&b>", "\u2028\xff", "\"\\", "\x00\n\t", "|", "=|=", ",,|a=,b", "", -1, true, "\xed\xa0\x80", "🙂", "run=r1|source=okta")
	f.Add(int64(0), int64(253402300800), int64(1), 24*3600, "", "", "", "", "", "", "", "", 0, false, "", "", "")
	f.Fuzz(func(t *testing.T, id, sec, nsec int64, zone int, action, user, client, authMethod, fields, values, targets, status string,
		httpStatus int, dryRun bool, idem, trace, detail string) {
		r := &audit.Record{ID: id, Action: action, User: user, Client: client, AuthMethod: authMethod, Status: status,
			HTTPStatus: httpStatus, DryRun: dryRun, IdempotencyKey: idem, TraceID: trace,
			Values: fuzzMap(values), Detail: fuzzMap(detail)}
		if sec != 0 || nsec != 0 || zone != 0 {
			r.Time = time.Unix(sec, nsec).In(time.FixedZone("z", zone))
		}
		if fields != "" {
			r.Fields = strings.Split(fields, "|")
		}
		if targets != "" {
			r.Targets = map[string]audit.TargetOutcome{}
			for _, e := range strings.Split(targets, "|") {
				k, v, _ := strings.Cut(e, "=")
				var o audit.TargetOutcome
				o.VendorID, v, _ = strings.Cut(v, ",")
				o.Status, o.Code, _ = strings.Cut(v, ",")
				r.Targets[k] = o
			}
		}
		sameAsMarshal(t, r)
		sameAsJSONL(t, r)
	})
}

func fuzzMap(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for _, e := range strings.Split(s, "|") {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

// typicalUpdate is what the gateway records for a two-field update of one
// target.
func typicalUpdate() *audit.Record {
	return &audit.Record{Time: time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC), Action: audit.ActionUserUpdate,
		User: "jdoe", Client: "hr", AuthMethod: "api_key", Fields: []string{"display_name", "given_name"},
		Values:  map[string]string{"display_name": "Jane Doe", "given_name": "Jane"},
		Targets: map[string]audit.TargetOutcome{"commvault": {VendorID: "42", Status: "applied"}},
		Status:  "applied", HTTPStatus: 200, IdempotencyKey: "0b4e7c3a-1d2f-4a5b-9c8d-7e6f5a4b3c2d", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
}

// BenchmarkRecordJSON: the memory sink's encoding of every update record,
// json.Marshal then Record.AppendJSON (here into a reused buffer; the
// memory store adds one copy of the bytes, see BenchmarkBoundedAppend).
func BenchmarkRecordJSON(b *testing.B) {
	r := typicalUpdate()
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = r.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
