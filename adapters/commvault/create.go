package commvault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Creator = (*Adapter)(nil)

type createUser struct {
	Email                     string `json:"email"`
	Name                      string `json:"name,omitempty"`
	FullName                  string `json:"fullName,omitempty"`
	Password                  string `json:"password,omitempty"`
	UseSystemGeneratePassword bool   `json:"useSystemGeneratePassword,omitempty"`
}

// Create is CreateUser, POST /V4/user (commvault.md 9.2):
// {"users":[{email (required), name, fullName, password (base64) or
// useSystemGeneratePassword}]}; 200 returns {"users":[{"id",...}]}, and a
// missing or 0 id is a failure. A duplicate's answer is not documented: a
// non-zero errorCode is mapped as everywhere else.
func (a *Adapter) Create(ctx context.Context, do adapters.Doer, u canonical.Update) (string, error) {
	if !u.Email.Set || strings.TrimSpace(u.Email.V) == "" {
		return "", fmt.Errorf("commvault: create user: %w", &canonical.Error{Code: canonical.CodeInvalidRequest,
			Message: "Commvault needs an e-mail to create a user", Fields: []canonical.FieldError{{Field: "user.email", Target: "commvault", Message: "is required to create a Commvault user"}}})
	}
	cu := createUser{Email: u.Email.V, UseSystemGeneratePassword: true}
	if u.Username.Set {
		cu.Name = u.Username.V
	}
	switch {
	case u.DisplayName.Set:
		cu.FullName = u.DisplayName.V
	case u.GivenName.Set || u.FamilyName.Set:
		cu.FullName = strings.TrimSpace(u.GivenName.V + " " + u.FamilyName.V)
	}
	var secrets []string
	if u.Password.Set {
		cu.Password = base64.StdEncoding.EncodeToString([]byte(u.Password.V.New.Reveal()))
		cu.UseSystemGeneratePassword = false
		secrets = []string{"/users/0/password"}
	}
	body, err := json.Marshal(map[string]any{"users": []createUser{cu}})
	if err != nil {
		return "", fmt.Errorf("commvault: create user: %w", err)
	}
	do = a.sess.Wrap(do)
	resp, err := do.Do(ctx, &adapters.Call{Name: "create user", Kind: adapters.Write, Method: http.MethodPost, Path: "/V4/user",
		Header: http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}}, Body: body, Secrets: secrets})
	if err != nil {
		return "", fmt.Errorf("commvault: create user: %w", err)
	}
	if resp.Synthetic {
		return "", nil
	}
	if e := outcome(resp); e != nil {
		return "", fmt.Errorf("commvault: create user: %w", e)
	}
	var out struct {
		Users []struct {
			ID int64 `json:"id"`
		} `json:"users"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil || len(out.Users) == 0 || out.Users[0].ID <= 0 {
		return "", fmt.Errorf("commvault: create user: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Commvault answered the create with no user id"})
	}
	return strconv.FormatInt(out.Users[0].ID, 10), nil
}
