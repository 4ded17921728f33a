package volterra

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// maxMessage bounds the vendor message carried into a canonical error.
const maxMessage = 300

// mapError maps a non-2xx answer with the generic table of docs/api.md
// (Codes): every status Volterra declares (401, 403, 404, 409, 429, 500, 503, 504)
// has a row there, and kind decides whose refusal a 401/403 is.
func mapError(r *adapters.Response, kind adapters.CredKind) *canonical.Error {
	return adapters.StatusError(r, kind, parseMessage(r.Body))
}

// parseMessage reads Volterra's error body. The spec types it as a bare JSON
// string; deployments are believed to send grpc-gateway's
// {"code","message","details"} (section 5). Both are accepted; anything else
// yields "" so StatusError supplies a default. The message is the vendor's
// own text, which never holds the token (it is only ever in a header).
func parseMessage(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	var s string
	if b[0] == '"' {
		if json.Unmarshal(b, &s) != nil {
			return ""
		}
		return clip(s)
	}
	var e errorBody
	if b[0] == '{' && json.Unmarshal(b, &e) == nil {
		return clip(e.Message)
	}
	return ""
}

// clip shortens s to maxMessage bytes without splitting a UTF-8 sequence,
// and drops control characters so a vendor message cannot forge log lines.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return adapters.Truncate(s, maxMessage)
}

// upstreamError is a 2xx answer the adapter cannot use.
func upstreamError(status int, msg string) *canonical.Error {
	return &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: status, Message: msg}
}
