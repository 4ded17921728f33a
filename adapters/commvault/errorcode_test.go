package commvault

import (
	"net/http"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// TestNonZeroErrorCodeIn200: a 200 whose errorCode is not 0 is the vendor
// failing, upstream_error (502), unless the code is one the adapter
// documents a meaning for. Codes 1 and 2 ("failure", vendors/commvault.md
// section 6) used to come back as invalid_request, blaming the caller.
func TestNonZeroErrorCodeIn200(t *testing.T) {
	for _, tc := range []struct {
		body string
		want canonical.Code
	}{
		{`{"errorCode":0,"errorMessage":""}`, ""},
		{`{"errorMessage":""}`, ""},
		{`{"errorCode":1,"errorMessage":"Password does not meet the complexity requirements"}`, canonical.CodeUpstreamError},
		{`{"errorCode":2,"errorMessage":"For external users, user groups cannot be modified"}`, canonical.CodeUpstreamError},
		{`{"errorCode":3,"errorMessage":"Validation password is incorrect"}`, canonical.CodeUpstreamError},
		{`{"errorCode":-1,"errorMessage":"invalid input"}`, canonical.CodeUpstreamError},
		{`{"errorCode":1116,"errorMessage":"required field missing"}`, canonical.CodeUpstreamError},
		{`{"errorCode":100,"errorMessage":"user not found"}`, canonical.CodeUpstreamError},
		{`{"errorCode":400,"errorMessage":"Invalid userGroupOperation"}`, canonical.CodeInvalidRequest},
		{`{"errorCode":401,"errorMessage":"x"}`, canonical.CodeUpstreamAuthFailed},
		{`{"errorCode":403,"errorMessage":"x"}`, canonical.CodeUpstreamAuthFailed},
		{`{"errorCode":404,"errorMessage":"User group not found"}`, canonical.CodeNotFound},
		{`{"errorCode":409,"errorMessage":"A user with this name already exists"}`, canonical.CodeConflict},
	} {
		e := outcome(&adapters.Response{Status: http.StatusOK, Header: http.Header{}, Body: []byte(tc.body)})
		var got canonical.Code
		if e != nil {
			got = e.Code
			if got.HTTPStatus() == http.StatusBadRequest && tc.want != canonical.CodeInvalidRequest {
				t.Errorf("%s: the vendor's failure is reported as the caller's 400", tc.body)
			}
			if e.Message == "" {
				t.Errorf("%s: no message", tc.body)
			}
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, got, tc.want)
		}
	}
}
