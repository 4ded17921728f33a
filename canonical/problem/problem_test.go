package problem

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestProblem(t *testing.T) {
	e := &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "bad", Fields: []canonical.FieldError{{Field: "user.email", Message: "not an addr-spec"}}, RetryAfter: 1500 * time.Millisecond}
	p := New(e)
	var got map[string]any
	if err := json.Unmarshal(p.JSON(), &got); err != nil {
		t.Fatal(err)
	}
	if got["status"] != float64(http.StatusBadRequest) || got["type"] != TypeBase+"invalid_request" || got["title"] == "" || got["detail"] != "bad" {
		t.Errorf("problem = %v", got)
	}
	if got["retry_after_s"] != float64(2) {
		t.Errorf("retry_after_s = %v", got["retry_after_s"])
	}
	errs := got["errors"].([]any)
	if errs[0].(map[string]any)["field"] != "user.email" {
		t.Errorf("errors = %v", errs)
	}
}
