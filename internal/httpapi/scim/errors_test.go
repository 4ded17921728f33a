package scim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/internal/links"
)

// TestStoreRefusal: the link store refusing a new user's values is a 400
// in SCIM's attribute names, without the store's own wording; any other
// store failure is not the caller's 400 and keeps its cause for the log.
func TestStoreRefusal(t *testing.T) {
	store := links.NewMemoryStore(time.Now)
	for _, tc := range []struct {
		name, userName, want string
	}{
		{"too long", strings.Repeat("u", links.MaxIDLength+1), "userName must be 1 to"},
		{"control character", "a\x00b", "userName holds a control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Put(context.Background(), "id-1", links.Change{
				Links: map[string]string{linkUserName: tc.userName}, Source: links.SourceAPI, Client: "okta"})
			if !errors.Is(err, links.ErrInvalid) {
				t.Fatalf("the store accepted %q (%v); the case needs a refused value", tc.userName, err)
			}
			var se *Error
			if !errors.As(storeRefusal(err), &se) || se.Status != 400 || se.ScimType != "invalidValue" {
				t.Fatalf("storeRefusal = %v, want a 400 invalidValue", storeRefusal(err))
			}
			if !strings.Contains(se.Detail, tc.want) {
				t.Errorf("detail %q, want it to say %q", se.Detail, tc.want)
			}
			for _, internal := range []string{"links:", "invalid change", "vendor id", "scim:"} {
				if strings.Contains(se.Detail, internal) {
					t.Errorf("detail %q carries the store's wording (%q)", se.Detail, internal)
				}
			}
		})
	}
	down := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	err := storeRefusal(down)
	if se := (*Error)(nil); errors.As(err, &se) || !errors.Is(err, down) {
		t.Errorf("storeRefusal(store down) = %#v, want the cause wrapped, not a SCIM 4xx", err)
	}
}
