package adaptertest

import (
	"io"
	"net/http"
	"testing"
)

// noRedirect shows a redirect as such: a simulator answers the path asked
// for, and ServeMux's own redirects would hide a route gone wrong.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Exchange sends req to a simulator without following redirects and
// returns the answer's status and body (the simulators' routing tables).
func Exchange(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
