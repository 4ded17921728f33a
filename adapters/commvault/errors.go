package commvault

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// parseGeneric reads GenericResp; ok is false when the body is not one.
func parseGeneric(b []byte) (genericResp, bool) {
	if g, ok := parsePlainGeneric(b); ok {
		return g, true
	}
	var g genericResp
	if err := json.Unmarshal(b, &g); err != nil {
		return g, false
	}
	return g, true
}

// parsePlainGeneric reads the GenericResp every update is answered with,
// {"errorMessage": "", "errorCode": 0} in any order and spacing, without
// json.Unmarshal's reflection: its six allocations and 0.9 µs were 2% of a
// loaded gateway's CPU (BenchmarkParseGeneric). It takes only an object of
// these two exact keys, with a plain integer of up to nine digits (or
// null) and a string with no escape, and says false for anything else,
// which json.Unmarshal then reads; what it reads is what json.Unmarshal
// reads (FuzzParseGeneric).
func parsePlainGeneric(b []byte) (genericResp, bool) {
	var g genericResp
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return g, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return g, skipSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return g, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return g, false
		}
		i = skipSpace(b, i+1)
		switch string(key) {
		case "errorMessage":
			var msg []byte
			if msg, i, ok = plainString(b, i); !ok {
				return g, false
			}
			g.ErrorMessage = string(msg)
		case "errorCode":
			if g.ErrorCode, i, ok = plainInt(b, i); !ok {
				return g, false
			}
		default:
			return g, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return g, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return g, skipSpace(b, i+1) == len(b)
		default:
			return g, false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a string at b[i] with no escape, control character or
// invalid UTF-8 (which json.Unmarshal would rewrite) and returns its bytes
// and the index after it.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[i+1 : j]
			return s, j + 1, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, j, false
		}
	}
	return nil, len(b), false
}

// plainInt reads null or an integer of at most nine digits (no fraction,
// exponent or leading zero) at b[i].
func plainInt(b []byte, i int) (*int, int, bool) {
	if bytes.HasPrefix(b[i:], []byte("null")) {
		return nil, i + 4, true
	}
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	start := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if n := j - start; n == 0 || n > 9 || (n > 1 && b[start] == '0') {
		return nil, j, false
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return nil, j, false
	}
	v, err := strconv.Atoi(string(b[i:j]))
	return &v, j, err == nil
}

// outcome maps a PUT response: success only for 2xx with errorCode 0 or
// absent.
func outcome(r *adapters.Response) *canonical.Error {
	g, ok := parseGeneric(r.Body)
	if r.OK() {
		if !ok {
			return &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: r.Status, Message: "Commvault answered 200 with an unreadable body"}
		}
		if g.ErrorCode == nil || *g.ErrorCode == 0 {
			return nil
		}
		return byCode(r.Status, *g.ErrorCode, g.ErrorMessage)
	}
	if ok && g.ErrorCode != nil && *g.ErrorCode != 0 && r.Status != http.StatusUnauthorized && r.Status < 500 && r.Status != http.StatusTooManyRequests {
		e := byCode(r.Status, *g.ErrorCode, g.ErrorMessage)
		if e.Code == canonical.CodeUpstreamError {
			// The HTTP status says more than an unknown vendor code.
			e = adapters.StatusError(r, adapters.ServiceCredential, truncate(g.ErrorMessage))
		}
		return e
	}
	return adapters.StatusError(r, adapters.ServiceCredential, truncate(g.ErrorMessage))
}

// byCode maps a non-zero Commvault errorCode to a canonical code. Only
// codes with a documented meaning map to something the caller can act on:
// Commvault's own examples use HTTP statuses as errorCode values with their
// usual meaning (vendors/commvault.md section 6: {"errorMessage":"Page not
// found","errorCode":404}). Every other code (1 and 2 are the legacy
// "failure", 3, -1, 1116, 100 ...) documents nothing more than "the vendor
// failed", so it is upstream_error (502) with the vendor's message: a
// caller must never be told its request was bad because Commvault said
// "2". The message text is not guessed from.
//
//	errorCode  canonical
//	400        invalid_request
//	401, 403   upstream_auth_failed (the service account's session)
//	404        not_found
//	409        conflict
//	other      upstream_error
func byCode(status, code int, msg string) *canonical.Error {
	e := &canonical.Error{VendorStatus: status, Message: truncate(msg)}
	switch code {
	case http.StatusBadRequest:
		e.Code = canonical.CodeInvalidRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		e.Code = canonical.CodeUpstreamAuthFailed
	case http.StatusNotFound:
		e.Code = canonical.CodeNotFound
	case http.StatusConflict:
		e.Code = canonical.CodeConflict
	default:
		e.Code = canonical.CodeUpstreamError
	}
	if e.Message == "" {
		e.Message = "Commvault reported errorCode " + strconv.Itoa(code)
	}
	return e
}

// truncate bounds a vendor message kept in an error.
func truncate(s string) string { return adapters.Truncate(s, 300) }
