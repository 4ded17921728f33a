package audit_test

import (
	"testing"

	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/audit/audittest"
)

func TestMemoryStoreContract(t *testing.T) {
	audittest.Run(t, func(*testing.T) audittest.Store { return audit.NewMemoryStore() })
}
