package scim

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/links"
	"github.com/identity-gateway/identity-gateway/internal/upstream"
)

type bulkOp struct {
	Method  string          `json:"method"`
	BulkID  string          `json:"bulkId"`
	Path    string          `json:"path"`
	Data    json.RawMessage `json:"data"`
	Version string          `json:"version"`
}

type bulkRequest struct {
	Schemas      []string `json:"schemas"`
	FailOnErrors int      `json:"failOnErrors"`
	Operations   []bulkOp `json:"Operations"`
}

// bulk is POST /Bulk (RFC 7644 §3.7) on the batch machinery: every
// operation's vendor calls are bulk traffic (upstream.WithBulk), so vendor
// rate limits and the interactive share apply and a big Bulk never starves
// live requests, and operations run at most Options.Concurrency at once
// (the batch endpoint's bound). An operation waits for the earlier ones it
// depends on (see bulkDeps): the one creating a bulkId it references, and
// those addressing the same user; independent ones run concurrently. With
// failOnErrors the operations run one at a time, so exactly the ones
// before the threshold run. The response lists the operations that ran,
// in request order.
//
// Each operation carries an idempotency key derived from the client, the
// whole request and the operation (idempotency.ItemKey of the request
// digest and "bulkId:<id>" or the index), as the batch endpoint keys its
// items: a repeated Bulk request writes nothing twice. Every operation
// that succeeded has its outcome recorded under its key (see recordOp),
// and a repeat answers the recorded status and location before executing
// anything: a DELETE already done answers its 204 again, and a user the
// request created and then deleted is not created again; an operation
// that failed runs again, its per-target keys keeping what applied.
func (h *Handler) bulk(c *fiber.Ctx) error {
	cl, err := h.who(c)
	if err != nil {
		return err
	}
	var req bulkRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return errorf(400, "invalidSyntax", "the body must be a BulkRequest message")
	}
	if len(req.Operations) > h.cfg.MaxBulkOperations {
		return errorf(413, "", "the Bulk request has "+strconv.Itoa(len(req.Operations))+" operations, more than maxOperations ("+strconv.Itoa(h.cfg.MaxBulkOperations)+")")
	}
	ctx := upstream.WithBulk(c.UserContext())
	reqKey := digest(cl.Name, string(c.Body()))
	conc := h.concurrency
	if req.FailOnErrors > 0 {
		conc = 1
	}
	deps := bulkDeps(req.Operations)
	var (
		mu   sync.Mutex
		ids  = map[string]string{}
		errs int
		wg   sync.WaitGroup
	)
	out := make([]map[string]any, len(req.Operations))
	done := make([]chan struct{}, len(req.Operations))
	for i := range done {
		done[i] = make(chan struct{})
	}
	sem := make(chan struct{}, conc)
	run := func(i int) {
		defer close(done[i])
		// Every dependency is an earlier operation, so waiting for them
		// before taking a slot cannot deadlock.
		for _, j := range deps[i] {
			<-done[j]
		}
		sem <- struct{}{}
		defer func() { <-sem }()
		mu.Lock()
		stop := req.FailOnErrors > 0 && errs >= req.FailOnErrors
		op := req.Operations[i]
		path := resolveBulkIDs(op.Path, ids)
		data := []byte(resolveBulkIDs(string(op.Data), ids))
		mu.Unlock()
		if stop {
			return
		}
		res := h.bulkRun(ctx, cl, op, i, path, data, reqKey)
		mu.Lock()
		defer mu.Unlock()
		out[i] = res
		if st, _ := strconv.Atoi(res["status"].(string)); st >= 400 {
			errs++
		}
		if loc, _ := res["location"].(string); loc != "" && op.BulkID != "" && strings.EqualFold(op.Method, "POST") {
			ids[op.BulkID] = strings.TrimPrefix(loc, h.base+"/Users/")
		}
	}
	for i := range req.Operations {
		if req.FailOnErrors > 0 {
			// One at a time, in order: exactly the operations before
			// the threshold run.
			run(i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(i)
		}()
	}
	wg.Wait()
	ran := make([]map[string]any, 0, len(out))
	for _, r := range out {
		if r != nil {
			ran = append(ran, r)
		}
	}
	return h.send(c, 200, map[string]any{"schemas": []string{SchemaBulkResp}, "Operations": ran})
}

// bulkRun runs one operation, or answers its recorded outcome.
func (h *Handler) bulkRun(ctx context.Context, cl Caller, op bulkOp, i int, path string, data []byte, reqKey string) map[string]any {
	res := map[string]any{"method": op.Method}
	if op.BulkID != "" {
		res["bulkId"] = op.BulkID
	}
	opID := strconv.Itoa(i)
	if op.BulkID != "" {
		opID = "bulkId:" + op.BulkID
	}
	opKey := idempotency.ItemKey(reqKey, opID)
	status, loc, replayed, err := h.recordedOp(ctx, cl, opKey)
	if !replayed && err == nil {
		status, loc, err = h.bulkOne(ctx, cl, strings.ToUpper(op.Method), path, data, opKey)
		if err == nil {
			h.recordOp(ctx, cl, opKey, status, loc)
		}
	}
	if err != nil {
		var se *Error
		if !errors.As(err, &se) {
			se = errorf(500, "", "internal error")
		}
		res["status"] = strconv.Itoa(se.Status)
		res["response"] = se.body()
		return res
	}
	res["status"] = strconv.Itoa(status)
	if loc != "" {
		res["location"] = h.base + loc
	}
	return res
}

// bulkDeps lists, per operation, the earlier operations it must wait for:
// the one whose bulkId it references (in its path or data), and every
// earlier one addressing the same user (the same /Users/{id} or bulkId, or
// a POST of the same userName), so the client's intent is kept (RFC 7644
// §3.7: a service provider may reorder only where that holds).
func bulkDeps(ops []bulkOp) [][]int {
	keys := make([][]string, len(ops))
	for i, op := range ops {
		if id, ok := strings.CutPrefix(op.Path, "/Users/"); ok && id != "" {
			if b, ok := strings.CutPrefix(id, "bulkId:"); ok {
				keys[i] = append(keys[i], "bulk:"+b)
			} else {
				keys[i] = append(keys[i], "id:"+id)
			}
		}
		if op.BulkID != "" {
			keys[i] = append(keys[i], "bulk:"+op.BulkID)
		}
		for _, m := range bulkRefRe.FindAllStringSubmatch(string(op.Data), -1) {
			keys[i] = append(keys[i], "bulk:"+m[1])
		}
		var doc struct {
			UserName string `json:"userName"`
		}
		if strings.EqualFold(op.Method, "POST") && json.Unmarshal(op.Data, &doc) == nil && doc.UserName != "" {
			keys[i] = append(keys[i], "userName:"+strings.ToLower(doc.UserName))
		}
	}
	deps := make([][]int, len(ops))
	for i := range ops {
		for j := range i {
			if slices.ContainsFunc(keys[i], func(k string) bool { return slices.Contains(keys[j], k) }) {
				deps[i] = append(deps[i], j)
			}
		}
	}
	return deps
}

// bulkRefRe finds bulkId references in an operation's data.
var bulkRefRe = regexp.MustCompile(`bulkId:([^"\\/\s]+)`)

func resolveBulkIDs(s string, ids map[string]string) string {
	for b, id := range ids {
		s = strings.ReplaceAll(s, "bulkId:"+b, id)
	}
	return s
}

func (h *Handler) bulkOne(ctx context.Context, cl Caller, method, path string, data []byte, opKey string) (int, string, error) {
	var id string
	switch {
	case path == "/Users" && method == "POST":
	case strings.HasPrefix(path, "/Users/") && len(path) > len("/Users/"):
		id = strings.TrimPrefix(path, "/Users/")
	default:
		return 0, "", errorf(400, "invalidPath", "Bulk takes /Users and /Users/{id}")
	}
	switch method {
	case "POST":
		if id != "" {
			return 0, "", errorf(400, "invalidPath", "POST takes /Users")
		}
		v, err := decodeValue(data)
		doc, ok := v.(map[string]any)
		if err != nil || !ok {
			return 0, "", errorf(400, "invalidSyntax", "data must be a User")
		}
		status, body, err := h.create(ctx, cl, doc, data, opKey)
		if err != nil {
			return 0, "", err
		}
		nid, _ := body["id"].(string)
		return status, "/Users/" + nid, nil
	case "PUT":
		v, err := decodeValue(data)
		doc, ok := v.(map[string]any)
		if err != nil || !ok {
			return 0, "", errorf(400, "invalidSyntax", "data must be a User")
		}
		_, err = h.replace(ctx, cl, id, doc, data)
		return 200, path, err
	case "PATCH":
		var req patchRequest
		if err := json.Unmarshal(data, &req); err != nil {
			return 0, "", errorf(400, "invalidSyntax", "data must be a PatchOp message")
		}
		_, err := h.patch(ctx, cl, id, req, data)
		return 200, path, err
	case "DELETE":
		return 204, "", h.remove(ctx, cl, id)
	}
	return 0, "", errorf(400, "invalidSyntax", "method must be POST, PUT, PATCH or DELETE")
}

// bulkRecordPrefix names the link-store records of Bulk outcomes: a
// canonical id that holds no link (so no listing shows it and no GET finds
// it) and whose held object is the outcome.
const bulkRecordPrefix = "scim-bulk-op:"

type bulkRecord struct {
	V        int    `json:"v"`
	Status   int    `json:"status"`
	Location string `json:"location,omitempty"`
}

func bulkRecordID(cl Caller, opKey string) string {
	return bulkRecordPrefix + digest(cl.Name, "bulk-op", opKey)
}

// recordedOp finds the recorded outcome of a Bulk operation that
// succeeded before (replayed true), so a repeated Bulk request answers it
// again rather than run it against a state it changed itself.
func (h *Handler) recordedOp(ctx context.Context, cl Caller, opKey string) (int, string, bool, error) {
	rec, err := h.d.Links().Get(ctx, bulkRecordID(cl, opKey))
	if err != nil {
		return 0, "", false, errorf(503, "", "the link store is unavailable")
	}
	var r bulkRecord
	if rec.Held == nil || json.Unmarshal(rec.Held, &r) != nil || r.V != heldFormat || r.Status == 0 {
		return 0, "", false, nil
	}
	return r.Status, r.Location, true, nil
}

// recordOp keeps a succeeded operation's status and location. Failures
// are not recorded: a repeat retries them. A record that cannot be stored
// only costs the repeat its replay (the per-target keys still hold), so
// it is logged, not answered.
func (h *Handler) recordOp(ctx context.Context, cl Caller, opKey string, status int, loc string) {
	b, _ := json.Marshal(bulkRecord{V: heldFormat, Status: status, Location: loc}) // ints and a string: cannot fail
	if _, err := h.d.Links().Put(ctx, bulkRecordID(cl, opKey), links.Change{Source: links.SourceAPI, Client: cl.Name, Held: b}); err != nil {
		h.log.WarnContext(ctx, "scim: recording a Bulk outcome failed", "err", err)
	}
}
