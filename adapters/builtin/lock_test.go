package builtin

import (
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/akana"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// Which updates take the account lock (issue 26): every write of a
// whole-object vendor, and nothing else.
func TestLockAccountDeclarations(t *testing.T) {
	cred := adapters.Credential{Username: "svc", Password: "pw", Token: "service-token-1234"}
	open := func(typ string) adapters.Adapter {
		c := Configs()[typ]()
		if a, ok := c.(*akana.Config); ok {
			a.Tenant = "acme"
		}
		a, err := c.Open(typ, adapters.Deps{Credential: cred})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		return a
	}
	op := func(u canonical.Update) adapters.Op { return adapters.Op{UserID: "u-1", Update: u} }
	cases := []struct {
		vendor string
		op     adapters.Op
		lock   bool
	}{
		{"frontier", op(canonical.Update{DisplayName: canonical.Some("T")}), true},
		{"frontier", op(canonical.Update{Metadata: canonical.Some(canonical.Metadata{"a": "b"})}), true},
		{"frontier", op(canonical.Update{Enabled: canonical.Some(false)}), false},
		{"volterra", op(canonical.Update{GivenName: canonical.Some("G")}), true},
		{"volterra", op(canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: []byte{1}})}), true},
		{"akana", op(canonical.Update{Email: canonical.Some("a@b.c")}), true},
		{"akana", op(canonical.Update{FamilyName: canonical.Some("F")}), true},
		{"commvault", op(canonical.Update{DisplayName: canonical.Some("T"), Email: canonical.Some("a@b.c")}), false},
	}
	for _, tc := range cases {
		a := open(tc.vendor)
		rmw, ok := a.(adapters.ReadModifyWriter)
		got := false
		account := ""
		if ok {
			account, got = rmw.LockAccount(tc.op)
		}
		if got != tc.lock {
			t.Errorf("%s %v: lock %v, want %v", tc.vendor, tc.op.Update.Fields(), got, tc.lock)
		}
		if got && (account == "" || strings.Contains(account, cred.Token.Reveal())) {
			t.Errorf("%s: account %q is empty or carries the credential", tc.vendor, account)
		}
	}
	// Volterra's account is the token's owner: the same token is the same
	// account whatever the path id, a caller's own token another one.
	v := open("volterra").(adapters.ReadModifyWriter)
	u := canonical.Update{OTPEnabled: canonical.Some(true)}
	a1, _ := v.LockAccount(adapters.Op{UserID: "x", Update: u})
	a2, _ := v.LockAccount(adapters.Op{UserID: "y", Update: u})
	a3, _ := v.LockAccount(adapters.Op{UserID: "x", Update: u, PassThrough: "caller-token-5678"})
	if a1 != a2 || a1 == a3 || strings.Contains(a3, "caller-token-5678") {
		t.Errorf("volterra accounts: %q %q %q", a1, a2, a3)
	}
}
