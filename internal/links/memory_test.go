package links_test

import (
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/internal/links"
	"github.com/identity-gateway/identity-gateway/internal/links/linkstest"
)

func TestMemoryStoreContract(t *testing.T) {
	linkstest.Run(t, func(t *testing.T, now func() time.Time) links.Store {
		return links.NewMemoryStore(now)
	})
}
