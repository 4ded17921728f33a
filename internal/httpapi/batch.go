package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	canonicalproblem "github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/upstream"
)

// bodyField names the body as a whole in a problem's errors, as the
// canonical decoder does.
const bodyField = "(body)"

// Batch defaults: what one request may carry and how many of its items run
// at once.
const (
	defaultBatchMaxItems    = 1000
	defaultBatchConcurrency = 8
	ndjsonType              = "application/x-ndjson"
)

// batchItem is one update of a batch as parsed: its line (NDJSON) or
// 1-based position (JSON array), its user id and its PATCH body without the
// id. err is set when the line cannot be an update; the item then fails
// alone.
type batchItem struct {
	line int
	id   string
	req  canonical.Request
	err  *canonical.Error
}

// BatchLine is one NDJSON line of the batch response: an item's outcome.
// Result is exactly what PATCH /v1/users/{id} would have answered with
// (the canonical result, or a problem document in Error).
type BatchLine struct {
	Line       int             `json:"line"`
	ID         string          `json:"id,omitempty"`
	HTTPStatus int             `json:"http_status"`
	Status     string          `json:"status"`
	Replayed   bool            `json:"replayed,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      json.RawMessage `json:"error,omitempty"`
}

// BatchSummary is the last line of the batch response.
type BatchSummary struct {
	Summary BatchCounts `json:"summary"`
}

// BatchCounts counts the items by outcome. NotStarted are items never
// started because the client went away or the request ended.
type BatchCounts struct {
	Items      int            `json:"items"`
	Finished   int            `json:"finished"`
	NotStarted int            `json:"not_started"`
	ByStatus   map[string]int `json:"by_status"`
	Replayed   int            `json:"replayed"`
}

// batchUsers is POST /v1/users:batch: every item is a PATCH body (with its
// id) run through the same dispatcher; results stream back as NDJSON as
// items finish, then a summary line.
func (s *server) batchUsers(c *fiber.Ctx) error {
	cl, _ := c.Locals(clientKey).(*Client)
	if cl == nil {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "not authenticated"}
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	ndjson := err == nil && mt == ndjsonType
	if !ndjson && (err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json"))) {
		return &canonical.Error{Code: canonical.CodeUnsupportedMediaType, Message: "Content-Type must be application/x-ndjson or application/json (an array)"}
	}
	dry, err := parseDryRun(c)
	if err != nil {
		return err
	}
	batchKey, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	if len(c.Request().Header.Peek(fiber.HeaderIfMatch)) > 0 {
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "If-Match is not accepted on a batch; nothing was done",
			Fields: []canonical.FieldError{{Field: "If-Match", Message: "send conditional updates one by one with PATCH /v1/users/{id}"}}}
	}
	limit := s.o.BatchMaxItems
	if limit <= 0 {
		limit = defaultBatchMaxItems
	}
	items, err := parseBatch(c.Body(), ndjson, limit)
	if err != nil {
		return err
	}
	if err := s.auditReady(c); err != nil {
		return err
	}
	pass := s.passThroughOf(c)
	method, _ := c.Locals(authMethodKey).(string)
	run := &batchRun{s: s, cl: cl, method: method, dry: dry, key: batchKey, pass: pass, items: items}
	// The stream writer runs after this handler returns, when c is no
	// longer ours: everything it needs is copied above. Items run under a
	// context that outlives the handler (a started item finishes and is
	// recorded); stop ends the batch early: no new item starts.
	base := context.WithoutCancel(c.UserContext())
	c.Status(http.StatusOK)
	c.Set(fiber.HeaderContentType, ndjsonType)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) { run.stream(base, w) })
	return nil
}

// parseBatch splits the body into items. A malformed line fails that item
// only; a body that is not an array at all (JSON) or carries more than limit
// items is refused whole, before anything runs.
func parseBatch(body []byte, ndjson bool, limit int) ([]batchItem, error) {
	var raws [][]byte
	var lines []int
	if ndjson {
		for i, l := range bytes.Split(body, []byte{'\n'}) {
			if len(bytes.TrimSpace(l)) == 0 {
				continue // blank lines (and the final newline) are not items
			}
			raws, lines = append(raws, l), append(lines, i+1)
			if len(raws) > limit {
				return nil, tooMany(limit)
			}
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return nil, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "a JSON batch body must be an array of updates; nothing was done",
				Fields: []canonical.FieldError{{Field: bodyField, Message: "expected a JSON array"}}}
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the batch body is not valid JSON; nothing was done",
					Fields: []canonical.FieldError{{Field: "[" + strconv.Itoa(len(raws)) + "]", Message: err.Error()}}}
			}
			raws, lines = append(raws, raw), append(lines, len(raws)+1)
			if len(raws) > limit {
				return nil, tooMany(limit)
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the batch body is not valid JSON; nothing was done",
				Fields: []canonical.FieldError{{Field: bodyField, Message: err.Error()}}}
		}
	}
	if len(raws) == 0 {
		return nil, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the batch is empty",
			Fields: []canonical.FieldError{{Field: bodyField, Message: "at least one update is required"}}}
	}
	items := make([]batchItem, len(raws))
	first := map[string]int{} // user id -> the line that has it
	for i, raw := range raws {
		it := &items[i]
		it.line = lines[i]
		it.id, it.req, it.err = parseItem(raw)
		if it.err != nil || it.id == "" {
			continue
		}
		// Two updates of one user in one batch would race each other and
		// share a derived idempotency key: the later line fails.
		if l, dup := first[it.id]; dup {
			it.err = &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "this user is already updated by line " + strconv.Itoa(l) + " of the batch",
				Fields: []canonical.FieldError{{Field: "id", Message: "appears twice in the batch"}}}
			continue
		}
		first[it.id] = it.line
	}
	return items, nil
}

func tooMany(limit int) error {
	return &canonical.Error{Code: canonical.CodePayloadTooLarge, Message: "the batch carries more than " + strconv.Itoa(limit) + " updates (server.batch_max_items); nothing was done"}
}

// parseItem reads one update: a PATCH body plus its "id".
func parseItem(raw []byte) (string, canonical.Request, *canonical.Error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return "", canonical.Request{}, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the line is not a JSON object",
			Fields: []canonical.FieldError{{Field: bodyField, Message: "expected one JSON object per line"}}}
	}
	var id string
	idRaw, ok := m["id"]
	if !ok {
		return "", canonical.Request{}, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the update names no user",
			Fields: []canonical.FieldError{{Field: "id", Message: "is required"}}}
	}
	if err := json.Unmarshal(idRaw, &id); err != nil {
		return "", canonical.Request{}, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the update's id is not a string",
			Fields: []canonical.FieldError{{Field: "id", Message: "must be a string"}}}
	}
	delete(m, "id")
	body, err := json.Marshal(m)
	if err != nil {
		return id, canonical.Request{}, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the line cannot be read"}
	}
	req, err := decode.Request(body, id)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		return id, req, canonical.AsError(err)
	}
	return id, req, nil
}

// ItemKey derives the idempotency key of one batch item from the batch's
// key and the user id (idempotency.ItemKey, which SCIM Bulk shares).
func ItemKey(batchKey, id string) string { return idempotency.ItemKey(batchKey, id) }

// batchRun is one batch in flight; it owns copies of everything it needs
// from the request.
type batchRun struct {
	s      *server
	cl     *Client
	method string
	dry    bool
	key    string
	pass   map[string]canonical.Secret
	items  []batchItem
}

// stream runs the items with bounded concurrency and writes each outcome
// as it finishes. A failed write (the client went away) stops starting new
// items; those already started finish and are recorded.
func (r *batchRun) stream(ctx context.Context, w *bufio.Writer) {
	conc := r.s.o.BatchConcurrency
	if conc <= 0 {
		conc = defaultBatchConcurrency
	}
	stop := make(chan struct{})
	var stopOnce sync.Once
	results := make(chan BatchLine)
	started := 0
	var wg sync.WaitGroup
	go func() {
		sem := make(chan struct{}, conc)
	loop:
		for i := range r.items {
			select {
			case <-stop:
				break loop
			case sem <- struct{}{}:
			}
			select {
			case <-stop: // stopped while waiting for a slot
				<-sem
				break loop
			default:
			}
			started++
			wg.Add(1)
			go func(it *batchItem) {
				defer wg.Done()
				defer func() { <-sem }()
				results <- r.runItem(ctx, it)
			}(&r.items[i])
		}
		wg.Wait()
		close(results)
	}()
	counts := BatchCounts{Items: len(r.items), ByStatus: map[string]int{}}
	gone := false
	for line := range results {
		counts.Finished++
		counts.ByStatus[line.Status]++
		if line.Replayed {
			counts.Replayed++
		}
		if gone {
			continue
		}
		if err := writeLine(w, line); err != nil {
			gone = true
			stopOnce.Do(func() { close(stop) })
		}
	}
	// results is closed: the producer is done and started is final.
	counts.NotStarted = len(r.items) - started
	if !gone {
		_ = writeLine(w, BatchSummary{Summary: counts})
	}
	if gone {
		r.s.o.Logger.WarnContext(ctx, "batch: the client went away; no new items started",
			"client", r.cl.Name, "finished", counts.Finished, "not_started", counts.NotStarted)
	}
}

func writeLine(w *bufio.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return err
	}
	return w.Flush()
}

// runItem runs one item exactly as PATCH /v1/users/{id} would.
func (r *batchRun) runItem(ctx context.Context, it *batchItem) BatchLine {
	line := BatchLine{Line: it.line, ID: it.id}
	if it.err != nil {
		return errorLine(line, it.err)
	}
	in := dispatch.Input{
		Client:         r.cl.Name,
		AllowedTargets: r.cl.Targets,
		AllowedFields:  r.cl.Fields,
		Method:         http.MethodPatch,
		Path:           "/v1/users/" + it.id,
		Request:        it.req,
		DryRun:         r.dry,
		PassThrough:    r.pass,
	}
	if r.key != "" {
		in.Key = ItemKey(r.key, it.id)
	}
	// Batch items are bulk work: they wait within the vendors' bulk share,
	// leaving interactive PATCHes their reserved part.
	out, err := r.s.o.Dispatcher.Apply(upstream.WithBulk(ctx), in)
	if err != nil {
		return errorLine(line, canonical.AsError(err))
	}
	r.s.auditRecord(ctx, r.method, r.cl, in, &out)
	line.HTTPStatus, line.Replayed, line.Result = out.Status, out.Replayed, json.RawMessage(out.Body)
	if out.Result != nil {
		line.Status = string(out.Result.Status)
	} else {
		var st struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(out.Body, &st)
		line.Status = st.Status
	}
	return line
}

func errorLine(line BatchLine, e *canonical.Error) BatchLine {
	p := canonicalproblem.New(e)
	line.HTTPStatus, line.Status, line.Error = p.Status, string(result.StatusFailed), p.JSON()
	return line
}

// traceIDOf is the trace id of ctx, "" when none.
func traceIDOf(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}
