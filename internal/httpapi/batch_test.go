package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/upstream"
)

// batchAdapter applies display_name and fails, once each, the users named
// in failOnce; it counts writes per user.
type batchAdapter struct {
	mu       sync.Mutex
	writes   map[string]int
	failOnce map[string]bool
	calls    atomic.Int32
}

func (a *batchAdapter) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Fields: map[canonical.Field]adapters.Support{
		canonical.FieldDisplayName: {Supported: true, As: "title"},
	}}
}

func (a *batchAdapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	a.calls.Add(1)
	a.mu.Lock()
	fail := a.failOnce[op.UserID]
	delete(a.failOnce, op.UserID)
	a.mu.Unlock()
	if fail {
		return adapters.Outcome{}, &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "vendor down"}
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "put", Kind: adapters.Write, Method: "PUT", Path: "/u/" + op.UserID})
	if err != nil {
		return adapters.Outcome{}, err
	}
	if resp.Synthetic { // a dry run's planned write
		return adapters.Outcome{Applied: op.Update.Fields()}, nil
	}
	a.mu.Lock()
	a.writes[op.UserID]++
	a.mu.Unlock()
	return adapters.Outcome{Applied: op.Update.Fields()}, nil
}

func newBatchApp(t *testing.T, o Options, failOnce ...string) (*batchAdapter, func(*http.Request) *http.Response) {
	t.Helper()
	a := &batchAdapter{writes: map[string]int{}, failOnce: map[string]bool{}}
	for _, u := range failOnce {
		a.failOnce[u] = true
	}
	d, err := dispatch.New([]dispatch.Target{{Name: "frontier", Adapter: a, Doer: okDoer}}, dispatch.Options{
		DefaultTargets: []string{"frontier"}, Guard: idempotency.NewGuard(idempotency.NewMemoryStore(), idempotency.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	o.Dispatcher, o.AuthNone = d, true
	app := buildApp(o)
	return a, func(req *http.Request) *http.Response {
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

func batchReq(target, ctype, body string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

func item(id string) string {
	return fmt.Sprintf(`{"id":%q,"vendor_ids":{"frontier":%q},"user":{"display_name":"N %s"}}`, id, id, id)
}

// readBatch parses an NDJSON batch answer into item lines by line number
// and the summary.
func readBatch(t *testing.T, resp *http.Response) (map[int]BatchLine, BatchCounts) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ndjsonType {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	lines := map[int]BatchLine{}
	var sum *BatchCounts
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sum != nil {
			t.Fatalf("a line after the summary: %s", sc.Text())
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &probe); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if s, ok := probe["summary"]; ok {
			sum = new(BatchCounts)
			if err := json.Unmarshal(s, sum); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var l BatchLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if _, dup := lines[l.Line]; dup {
			t.Fatalf("line %d reported twice", l.Line)
		}
		lines[l.Line] = l
	}
	if sum == nil {
		t.Fatal("no summary line")
	}
	return lines, *sum
}

func TestBatchNDJSONItemsRunThroughDispatch(t *testing.T) {
	a, do := newBatchApp(t, Options{})
	body := strings.Join([]string{
		item("u1"),
		`{"id":"u2", "user": {`, // malformed: fails alone
		"",                      // blank: not an item
		item("u3"),
		`{"user":{"display_name":"x"}}`, // no id
		`{"id":"u4","vendor_ids":{"frontier":"u4"},"user":{"email":"a@b.c"}}`, // unsupported field, policy reject
		item("u1"), // duplicate of line 1
	}, "\n") + "\n"
	lines, sum := readBatch(t, do(batchReq("/v1/users:batch", ndjsonType, body)))
	want := map[int]struct {
		status string
		http   int
	}{
		1: {"applied", 200}, 2: {"failed", 400}, 4: {"applied", 200}, 5: {"failed", 400}, 6: {"failed", 0}, 7: {"failed", 400},
	}
	if len(lines) != len(want) {
		t.Fatalf("got lines %v", lines)
	}
	for n, w := range want {
		l := lines[n]
		if l.Status != w.status || (w.http != 0 && l.HTTPStatus != w.http) {
			t.Errorf("line %d: status %s http %d, want %s %d (%s%s)", n, l.Status, l.HTTPStatus, w.status, w.http, l.Result, l.Error)
		}
	}
	if lines[1].ID != "u1" || !strings.Contains(string(lines[1].Result), `"frontier"`) {
		t.Errorf("line 1 carries no per-target result: %+v", lines[1])
	}
	if !strings.Contains(string(lines[7].Error), "line 1") {
		t.Errorf("duplicate not named: %s", lines[7].Error)
	}
	if sum.Items != 6 || sum.Finished != 6 || sum.NotStarted != 0 || sum.ByStatus["applied"] != 2 || sum.ByStatus["failed"] != 4 {
		t.Errorf("summary %+v", sum)
	}
	if a.writes["u1"] != 1 || a.writes["u3"] != 1 || len(a.writes) != 2 {
		t.Errorf("writes %v", a.writes)
	}
}

func TestBatchJSONArrayAndDryRun(t *testing.T) {
	a, do := newBatchApp(t, Options{})
	lines, sum := readBatch(t, do(batchReq("/v1/users:batch?dry_run=true", "application/json", "["+item("u1")+","+item("u2")+"]")))
	if lines[1].Status != "planned" || lines[2].Status != "planned" || sum.ByStatus["planned"] != 2 {
		t.Fatalf("lines %+v summary %+v", lines, sum)
	}
	if len(a.writes) != 0 {
		t.Fatalf("a dry run wrote: %v", a.writes)
	}
}

func TestBatchRefusedWhole(t *testing.T) {
	_, do := newBatchApp(t, Options{BatchMaxItems: 2})
	for _, tc := range []struct {
		name, target, ctype, body string
		status                    int
	}{
		{"too many", "/v1/users:batch", ndjsonType, item("a") + "\n" + item("b") + "\n" + item("c"), 413},
		{"not an array", "/v1/users:batch", "application/json", item("a"), 400},
		{"broken array", "/v1/users:batch", "application/json", "[" + item("a") + ",{", 400},
		{"empty", "/v1/users:batch", ndjsonType, "\n\n", 400},
		{"media type", "/v1/users:batch", "text/plain", item("a"), 415},
		{"unknown query", "/v1/users:batch?dryrun=true", ndjsonType, item("a"), 400},
		{"bad dry_run", "/v1/users:batch?dry_run=1", ndjsonType, item("a"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(batchReq(tc.target, tc.ctype, tc.body))
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			problem(t, resp)
		})
	}
}

func TestBatchRouteDoesNotCollideWithUsersID(t *testing.T) {
	a, do := newBatchApp(t, Options{})
	// PATCH /v1/users/{id} still reaches patchUser.
	if resp := do(patchAt("/v1/users/u9", `{"vendor_ids":{"frontier":"u9"},"user":{"display_name":"x"}}`)); resp.StatusCode != 200 {
		t.Fatalf("PATCH: %d", resp.StatusCode)
	}
	if a.writes["u9"] != 1 {
		t.Fatalf("writes %v", a.writes)
	}
	// GET /v1/users:batch is not a user read: only POST is defined there.
	resp := do(httptest.NewRequest(http.MethodGet, "/v1/users:batch", nil))
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/users:batch: %d", resp.StatusCode)
	}
	// A user whose id is "users:batch"-like is still addressed by PATCH.
	if resp := do(batchReq("/v1/users/batch", ndjsonType, item("a"))); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /v1/users/batch: %d", resp.StatusCode)
	}
}

func TestBatchIdempotencyKeyReplaysAppliedAndRetriesTheRest(t *testing.T) {
	a, do := newBatchApp(t, Options{}, "u2")
	body := item("u1") + "\n" + item("u2") + "\n" + item("u3") + "\n"
	lines, _ := readBatch(t, do(batchReq("/v1/users:batch", ndjsonType, body, "Idempotency-Key", "batch-1")))
	if lines[2].Status != "failed" || lines[1].Status != "applied" || lines[3].Status != "applied" {
		t.Fatalf("first run %+v", lines)
	}
	// Re-sent in another order: u1 and u3 replay, u2 runs again.
	body = item("u3") + "\n" + item("u2") + "\n" + item("u1") + "\n"
	lines, sum := readBatch(t, do(batchReq("/v1/users:batch", ndjsonType, body, "Idempotency-Key", "batch-1")))
	if !lines[1].Replayed || !lines[3].Replayed || lines[2].Replayed || lines[2].Status != "applied" {
		t.Fatalf("second run %+v", lines)
	}
	if sum.Replayed != 2 {
		t.Fatalf("summary %+v", sum)
	}
	for _, u := range []string{"u1", "u2", "u3"} {
		if a.writes[u] != 1 {
			t.Errorf("%s written %d times", u, a.writes[u])
		}
	}
	// The derived key is the batch key plus the id, the same one a PATCH
	// with that key would use: such a PATCH replays.
	resp := do(patchAt("/v1/users/u1", `{"vendor_ids":{"frontier":"u1"},"user":{"display_name":"N u1"}}`, "Idempotency-Key", ItemKey("batch-1", "u1")))
	if resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("PATCH with the derived key did not replay: %d", resp.StatusCode)
	}
}

func TestItemKey(t *testing.T) {
	if got := ItemKey("k", "jdoe"); got != "k/jdoe" {
		t.Errorf("got %q", got)
	}
	long := ItemKey(strings.Repeat("k", 252), "jdoe")
	if len(long) > 255 || !strings.HasPrefix(long, "item-sha256:") {
		t.Errorf("long key %q", long)
	}
	if k := ItemKey("k", "josé"); k == ItemKey("k", "jose") || strings.ContainsFunc(k, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		t.Error("non-ASCII ids must hash to distinct visible keys")
	}
}

// failingWriter fails every write after the first n bytes, as a socket
// whose peer has gone.
type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		return 0, errors.New("connection reset by peer")
	}
	w.left -= len(p)
	return len(p), nil
}

func TestBatchDisconnectStopsStartingItems(t *testing.T) {
	a := &batchAdapter{writes: map[string]int{}, failOnce: map[string]bool{}}
	d, err := dispatch.New([]dispatch.Target{{Name: "frontier", Adapter: a, Doer: okDoer}}, dispatch.Options{DefaultTargets: []string{"frontier"}})
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	for i := range 50 {
		body.WriteString(item(fmt.Sprintf("u%d", i)) + "\n")
	}
	items, err := parseBatch([]byte(body.String()), true, 1000)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{o: Options{Dispatcher: d, BatchConcurrency: 1}}
	s.o.Logger = slog.New(slog.DiscardHandler)
	run := &batchRun{s: s, cl: &Client{Name: "c"}, items: items}
	// The first line cannot be delivered: the client is gone.
	run.stream(context.Background(), bufio.NewWriterSize(&failingWriter{}, 16))
	// With one item at a time, the item whose line failed and at most one
	// started meanwhile ran; the other 48 never started.
	if n := a.calls.Load(); n < 1 || n > 2 {
		t.Fatalf("%d of 50 items ran after the client went away", n)
	}
}

// TestBatchLeavesLivePatchesTheirShare runs a batch and live PATCHes
// together against one vendor with max_concurrency 2 and half of it kept
// for interactive traffic: while the batch holds the bulk slot (its vendor
// call is stalled), a live PATCH still goes through at once.
func TestBatchLeavesLivePatchesTheirShare(t *testing.T) {
	bulkIn := make(chan struct{}, 64)
	release := make(chan struct{})
	var inflightBulk, maxBulk atomic.Int32
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/u/b") { // batch users are b0, b1, ...
			n := inflightBulk.Add(1)
			defer inflightBulk.Add(-1)
			for {
				m := maxBulk.Load()
				if n <= m || maxBulk.CompareAndSwap(m, n) {
					break
				}
			}
			bulkIn <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer vendor.Close()
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock() // before vendor.Close, even when the test fails
	u, _ := url.Parse(vendor.URL)
	client, err := upstream.New(upstream.Options{Vendor: "frontier", BaseURL: u,
		Limit: upstream.NewLimiter("frontier", upstream.LimitPolicy{MaxConcurrency: 2, InteractiveShare: 0.5}, nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	a := &batchAdapter{writes: map[string]int{}, failOnce: map[string]bool{}}
	d, err := dispatch.New([]dispatch.Target{{Name: "frontier", Adapter: a, Doer: client, Deadline: 10 * time.Second}},
		dispatch.Options{DefaultTargets: []string{"frontier"}})
	if err != nil {
		t.Fatal(err)
	}
	app := buildApp(Options{Dispatcher: d, AuthNone: true, BatchConcurrency: 8})
	var body strings.Builder
	for i := range 20 {
		body.WriteString(item(fmt.Sprintf("b%d", i)) + "\n")
	}
	batchDone := make(chan *http.Response, 1)
	go func() {
		resp, err := app.Test(batchReq("/v1/users:batch", ndjsonType, body.String()), -1)
		if err != nil {
			t.Error(err)
		}
		batchDone <- resp
	}()
	<-bulkIn // the batch holds its slot at the vendor; 7 more items wait
	// A live PATCH must not queue behind the batch: its deadline is short.
	live, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := patchAt("/v1/users/live1", `{"vendor_ids":{"frontier":"live1"},"user":{"display_name":"x"}}`).WithContext(live)
	resp, err := app.Test(req, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("live PATCH starved by the batch: %d %s", resp.StatusCode, b)
	}
	unblock()
	lines, sum := readBatch(t, <-batchDone)
	if sum.ByStatus["applied"] != 20 || len(lines) != 20 {
		t.Fatalf("batch summary %+v", sum)
	}
	if m := maxBulk.Load(); m != 1 {
		t.Fatalf("bulk used %d vendor slots at once, its share is 1", m)
	}
}
