package scim

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/internal/links"
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

// bulk is POST /Bulk (RFC 7644 §3.7), run sequentially: operations in
// order, "bulkId:<id>" in a path or body replaced by the id an earlier POST
// created, stopping after failOnErrors errors.
//
// Each operation carries an idempotency key derived from the client, the
// whole request and the operation (<request digest>/<bulkId or index>), as
// the batch endpoint keys its items: a repeated Bulk request writes
// nothing twice. Its POSTs find the users they created (same 201 and
// location); its PUTs and PATCHes find nothing left to change (their
// per-target keys derive from the request and the state read). Every
// operation that succeeded has its outcome recorded under its key (see
// recordOp), and a repeat answers the recorded status and location before
// executing anything: a DELETE already done answers its 204 again, and a
// user the request created and then deleted is not created again.
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
	ctx := c.UserContext()
	reqKey := digest(cl.Name, string(c.Body()))
	ids := map[string]string{}
	var out []map[string]any
	errs := 0
	for i, op := range req.Operations {
		if req.FailOnErrors > 0 && errs >= req.FailOnErrors {
			break
		}
		path := resolveBulkIDs(op.Path, ids)
		data := []byte(resolveBulkIDs(string(op.Data), ids))
		res := map[string]any{"method": op.Method}
		if op.BulkID != "" {
			res["bulkId"] = op.BulkID
		}
		opID := strconv.Itoa(i)
		if op.BulkID != "" {
			opID = "bulkId:" + op.BulkID
		}
		opKey := reqKey + "/" + opID
		status, loc, replayed, err := h.recordedOp(ctx, cl, opKey)
		if !replayed && err == nil {
			status, loc, err = h.bulkOne(ctx, cl, strings.ToUpper(op.Method), path, data, opKey)
			if err == nil {
				h.recordOp(ctx, cl, opKey, status, loc)
			}
		}
		if err != nil {
			errs++
			var se *Error
			if !errors.As(err, &se) {
				se = errorf(500, "", "internal error")
			}
			res["status"] = strconv.Itoa(se.Status)
			res["response"] = se.body()
		} else {
			res["status"] = strconv.Itoa(status)
			if loc != "" {
				res["location"] = h.base + loc
				if op.BulkID != "" {
					ids[op.BulkID] = strings.TrimPrefix(loc, "/Users/")
				}
			}
		}
		out = append(out, res)
	}
	return h.send(c, 200, map[string]any{"schemas": []string{SchemaBulkResp}, "Operations": out})
}

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
