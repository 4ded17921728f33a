package canonical

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSecretNeverRenders(t *testing.T) {
	s := Secret("hunter2")
	p := Password{New: s, Current: Some(Secret("old-pw"))}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", p, p, p, s), string(mustJSON(t, p))} {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "old-pw") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEveryCodeHasStatusAndTitle(t *testing.T) {
	for _, c := range []Code{CodeInvalidRequest, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeConflict, CodeUnsupportedField,
		CodePayloadTooLarge, CodeUnsupportedMediaType, CodeMethodNotAllowed, CodeRateLimited, CodeUpstreamAuthFailed,
		CodeUpstreamUnavailable, CodeUpstreamTimeout, CodeUpstreamError, CodeCircuitOpen, CodeIdempotencyInProgress,
		CodeIdempotencyKeyReused, CodeIdempotencyUnavailable, CodeInternal, CodeAccountBusy, CodeIdentityMismatch} {
		if c.HTTPStatus() < 400 || c.Title() == "" || (c != CodeInternal && c.Title() == "Internal error") {
			t.Errorf("%s: status %d title %q", c, c.HTTPStatus(), c.Title())
		}
	}
}

// TestFieldPaths: every field's path is "user." and its JSON name, whether
// it comes from the table of constants or is built.
func TestFieldPaths(t *testing.T) {
	for _, f := range append(AllFields(), Field("not_a_field")) {
		if got, want := f.Path(), "user."+string(f); got != want {
			t.Errorf("%s: path %q, want %q", f, got, want)
		}
	}
}
