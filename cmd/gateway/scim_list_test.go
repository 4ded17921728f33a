package main

import (
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/httpapi/scim"
)

type scimList struct {
	TotalResults, StartIndex, ItemsPerPage int
	Resources                              []struct{ ID, UserName string }
}

func getList(t *testing.T, base, query string) (int, scimList, []byte) {
	t.Helper()
	status, _, body := call(t, "GET", base+"/scim/v2/Users?"+query, "")
	var l scimList
	if status == 200 {
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
	}
	return status, l, body
}

// TestSCIMListing: GET /Users without a filter lists every user the
// gateway knows (the link store's canonical ids) page by page in a stable
// order with the right totalResults (RFC 7644 §3.4.2.4, Okta's import);
// filters that are not an indexed eq are evaluated on the built users,
// and refused with tooMany when more users than scim.max_results would
// have to be built.
func TestSCIMListing(t *testing.T) {
	for _, maxResults := range []int{100, 2} {
		t.Run("max_results="+strconv.Itoa(maxResults), func(t *testing.T) {
			_, cfg := devSims(t)
			cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}, MaxResults: maxResults}
			base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})

			_, before, _ := getList(t, base, "count=0")
			var created []string
			for _, n := range []string{"list.carol", "list.alice", "list.bob"} {
				status, _, body := call(t, "POST", base+"/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+n+`","displayName":"`+n+`"}`)
				if status != 201 {
					t.Fatalf("POST %s: %d %s", n, status, body)
				}
				var u struct{ ID string }
				_ = json.Unmarshal(body, &u)
				created = append(created, u.ID)
			}
			total := before.TotalResults + len(created)

			// Okta's import: pages of count until totalResults, the same
			// order on every page, each user once.
			var seen []string
			for start := 1; start <= total; start += 2 {
				status, l, body := getList(t, base, "startIndex="+strconv.Itoa(start)+"&count=2")
				if status != 200 || l.TotalResults != total || l.StartIndex != start || l.ItemsPerPage != len(l.Resources) || len(l.Resources) > 2 {
					t.Fatalf("page at %d: %d %s, want totalResults %d", start, status, body, total)
				}
				for _, r := range l.Resources {
					seen = append(seen, r.ID)
				}
			}
			if len(seen) != total || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != total {
				t.Fatalf("pages listed %v, want %d distinct users", seen, total)
			}
			for _, id := range created {
				if !slices.Contains(seen, id) {
					t.Errorf("created user %s not listed", id)
				}
			}
			if status, l, body := getList(t, base, "startIndex="+strconv.Itoa(total+1)+"&count=5"); status != 200 || l.TotalResults != total || len(l.Resources) != 0 {
				t.Errorf("past the end: %d %s", status, body)
			}
			if status, l, _ := getList(t, base, "count=1000"); status != 200 || len(l.Resources) != min(total, maxResults) {
				t.Errorf("count above max_results: %d users, want %d", len(l.Resources), min(total, maxResults))
			}

			for _, tc := range []struct {
				filter string
				want   []string
			}{
				{`userName sw "list."`, []string{"list.alice", "list.bob", "list.carol"}},
				{`userName co "ALI" or userName ew "bob"`, []string{"list.alice", "list.bob"}},
				{`userName pr and not (userName sw "list.b")`, nil}, // checked below: everything but list.bob
				{`userName gt "list.b"`, []string{"list.bob", "list.carol"}},
				{`userName co "nobody"`, []string{}},
			} {
				status, l, body := getList(t, base, "filter="+url.QueryEscape(tc.filter)+"&count=10")
				if total > maxResults {
					if status != 400 || !json.Valid(body) {
						t.Errorf("%s over %d users with max_results %d: %d %s, want 400 tooMany", tc.filter, total, maxResults, status, body)
					}
					var e struct{ ScimType string }
					_ = json.Unmarshal(body, &e)
					if e.ScimType != "tooMany" {
						t.Errorf("%s: scimType %q, want tooMany", tc.filter, e.ScimType)
					}
					continue
				}
				if status != 200 {
					t.Fatalf("%s: %d %s", tc.filter, status, body)
				}
				if tc.want == nil {
					if l.TotalResults != total-1 {
						t.Errorf("%s: totalResults %d, want %d", tc.filter, l.TotalResults, total-1)
					}
					continue
				}
				got := []string{}
				for _, r := range l.Resources {
					got = append(got, r.UserName)
				}
				if l.TotalResults != len(tc.want) || !slices.Equal(slices.Sorted(slices.Values(got)), tc.want) {
					t.Errorf("%s: %d users %v (totalResults %d), want %v", tc.filter, len(got), got, l.TotalResults, tc.want)
				}
			}
		})
	}
}

// TestSCIMBulkRepeat: a Bulk request sent twice writes nothing twice at
// the simulators and answers the same statuses and locations (each
// operation keyed <request>/<bulkId or index>); Bulk's limits from
// ServiceProviderConfig are enforced with 413.
func TestSCIMBulkRepeat(t *testing.T) {
	sims, cfg := devSims(t)
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}, MaxBulkOperations: 3}
	cfg.Server.BodyLimit = 4 << 10
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[
	 {"method":"POST","path":"/Users","bulkId":"r1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"repeat.user","emails":[{"value":"repeat.user@example.com","primary":true}],"displayName":"Repeat User"}},
	 {"method":"PATCH","path":"/Users/bulkId:r1","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Repeat Patched"}]}},
	 {"method":"PATCH","path":"/Users/bulkId:r1","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}}]}`
	writes := func() int { return len(simWrites(t, sims, "commvault")) + len(simWrites(t, sims, "frontier")) }
	run := func() []bulkOutcome { t.Helper(); return postBulk(t, base, body) }
	before := writes()
	first := run()
	if len(first) != 3 || first[0].Status != "201" || first[1].Status != "200" || first[2].Status != "200" {
		t.Fatalf("first run %+v, want 201, 200, 200", first)
	}
	afterFirst := writes()
	if afterFirst == before {
		t.Fatal("the first run wrote nothing")
	}
	second := run()
	if !slices.Equal(first, second) {
		t.Errorf("repeat answered %+v, want %+v", second, first)
	}
	if got := writes(); got != afterFirst {
		t.Errorf("the repeat wrote %d more times at the simulators, want 0", got-afterFirst)
	}

	for _, tc := range []struct {
		name, body string
	}{
		{"more operations than maxOperations", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"DELETE","path":"/Users/a"},{"method":"DELETE","path":"/Users/b"},{"method":"DELETE","path":"/Users/c"},{"method":"DELETE","path":"/Users/d"}]}`},
		{"larger than maxPayloadSize", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","data":{"userName":"` + strings.Repeat("x", 5<<10) + `"}}]}`},
	} {
		status, hdr, b := call(t, "POST", base+"/scim/v2/Bulk", tc.body, "Content-Type", "application/scim+json")
		var e struct {
			Schemas []string
			Status  string
		}
		_ = json.Unmarshal(b, &e)
		if status != 413 || e.Status != "413" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/scim+json") {
			t.Errorf("%s: %d %s %s, want a SCIM 413", tc.name, status, hdr.Get("Content-Type"), b)
		}
	}
	if got := writes(); got != afterFirst {
		t.Errorf("refused Bulk requests wrote %d times", got-afterFirst)
	}
}

// TestSCIMFilterResolvesUnlinkedUsers: a user both vendors hold but the
// gateway has never linked is found by an emails.value eq filter (the
// targets are resolved by e-mail, as the read path does, and the links
// kept: the same id answers again); a value nobody holds leaves nothing
// behind.
func TestSCIMFilterResolvesUnlinkedUsers(t *testing.T) {
	sims, cfg := devSims(t)
	const email = "unlinked.user@example.com"
	sims.handlers["frontier"].(*frontiersim.Sim).AddUser(frontiersim.User{ID: "8f0c6a7e-1111-4222-8333-444455556666", Name: "unlinkeduser", Email: email})
	// Only frontier holds the user: commvault, the listing target, would
	// have adopted it at the first listing (TestSCIMListingAdoptsVendorAccounts).
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})

	_, before, _ := getList(t, base, "count=0")
	status, l, body := getList(t, base, "filter="+url.QueryEscape(`emails.value eq "`+email+`"`))
	if status != 200 || l.TotalResults != 1 || len(l.Resources) != 1 {
		t.Fatalf("%d %s, want the unlinked user", status, body)
	}
	id := l.Resources[0].ID
	for _, q := range []string{`emails.value eq "` + strings.ToUpper(email) + `"`, `emails[type eq "work"].value eq "` + email + `"`} {
		if _, again, body := getList(t, base, "filter="+url.QueryEscape(q)); again.TotalResults != 1 || again.Resources[0].ID != id {
			t.Errorf("%s: %s, want the same user %s", q, body, id)
		}
	}
	if status, _, body := call(t, "GET", base+"/scim/v2/Users/"+id, ""); status != 200 || !strings.Contains(string(body), email) {
		t.Errorf("GET the resolved user: %d %s", status, body)
	}
	if _, after, _ := getList(t, base, "count=0"); after.TotalResults != before.TotalResults+1 {
		t.Errorf("%d users known, want %d (the resolved one added)", after.TotalResults, before.TotalResults+1)
	}

	for _, q := range []string{`emails.value eq "nobody@example.com"`, `userName eq "nobody@example.com"`, `userName eq "nobody"`} {
		if status, none, body := getList(t, base, "filter="+url.QueryEscape(q)); status != 200 || none.TotalResults != 0 {
			t.Errorf("%s: %d %s, want no user", q, status, body)
		}
	}
	if _, after, _ := getList(t, base, "count=0"); after.TotalResults != before.TotalResults+1 {
		t.Errorf("lookups of unknown values left users behind: %d known, want %d", after.TotalResults, before.TotalResults+1)
	}
}

// TestSCIMListingAdoptsVendorAccounts: with scim.adopt_vendor_accounts,
// an unfiltered listing shows the accounts the listing target (the first
// SCIM target) holds that nobody has linked, through the vendor's list
// call; each is linked once, so a second listing shows the same ids.
func TestSCIMListingAdoptsVendorAccounts(t *testing.T) {
	sims, cfg := devSims(t)
	sims.handlers["commvault"].(*commvaultsim.Sim).AddUser(commvaultsim.User{ID: 4646, Name: "listed.only", Email: "listed.only@example.com", Password: "x-unused-1", Enabled: true, AuthMethod: "LOCAL"})
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}}
	// Off by default: the same listing shows only linked users.
	off, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})
	if _, l, body := getList(t, off, "count=100"); strings.Contains(string(body), "listed.only") {
		t.Fatalf("listing adopted a vendor account without scim.adopt_vendor_accounts: %d users %s", l.TotalResults, body)
	}
	cfg.SCIM.AdoptVendorAccounts = true
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})

	find := func() (string, int) {
		status, l, body := getList(t, base, "count=100")
		if status != 200 {
			t.Fatalf("list: %d %s", status, body)
		}
		for _, r := range l.Resources {
			if r.UserName == "listed.only" {
				return r.ID, l.TotalResults
			}
		}
		t.Fatalf("the commvault account nobody linked is not listed: %s", body)
		return "", 0
	}
	id, total := find()
	if again, total2 := find(); again != id || total2 != total {
		t.Errorf("second listing: %s of %d, want %s of %d (adopted once)", again, total2, id, total)
	}
	if status, _, body := call(t, "GET", base+"/scim/v2/Users/"+id, ""); status != 200 || !strings.Contains(string(body), "listed.only@example.com") {
		t.Errorf("GET the adopted user: %d %s", status, body)
	}
	// The indexed filters find the adopted user, not a second one.
	for _, q := range []string{`emails.value eq "LISTED.ONLY@example.com"`, `userName eq "listed.only"`} {
		if status, l, body := getList(t, base, "filter="+url.QueryEscape(q)); status != 200 || l.TotalResults != 1 || l.Resources[0].ID != id {
			t.Errorf("%s: %d %s, want the adopted user %s", q, status, body, id)
		}
	}
	if _, total3 := find(); total3 != total {
		t.Errorf("%d users after the filters, want %d", total3, total)
	}
}

// TestSCIMBulkRepeatReplaysOutcomes: a repeated Bulk request answers the
// recorded outcome of each operation that succeeded before running
// anything: a DELETE already done answers its 204 again (not 404), and a
// user the request created and then deleted is not created again; the
// repeat writes nothing at the vendors.
func TestSCIMBulkRepeatReplaysOutcomes(t *testing.T) {
	sims, cfg := devSims(t)
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})
	writes := func() int { return len(simWrites(t, sims, "commvault")) + len(simWrites(t, sims, "frontier")) }
	status, _, b := call(t, "POST", base+"/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"gone.soon","emails":[{"value":"gone.soon@example.com","primary":true}]}`)
	if status != 201 {
		t.Fatalf("POST %d %s", status, b)
	}
	var existing struct{ ID string }
	_ = json.Unmarshal(b, &existing)
	for _, tc := range []struct {
		name, ops string
		want      []string
	}{
		{"a DELETE already done", `{"method":"DELETE","path":"/Users/` + existing.ID + `"}`, []string{"204"}},
		{"create then delete the same user", `{"method":"POST","path":"/Users","bulkId":"c1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"brief.user","emails":[{"value":"brief.user@example.com","primary":true}]}},
		 {"method":"DELETE","path":"/Users/bulkId:c1"}`, []string{"201", "204"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[` + tc.ops + `]}`
			run := func() []bulkOutcome { t.Helper(); return postBulk(t, base, body) }
			first := run()
			var got []string
			for _, r := range first {
				got = append(got, r.Status)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("first run %+v, want statuses %v", first, tc.want)
			}
			_, before, _ := getList(t, base, "count=0")
			afterFirst := writes()
			second := run()
			if !slices.Equal(first, second) {
				t.Errorf("repeat answered %+v, want the recorded %+v", second, first)
			}
			if got := writes(); got != afterFirst {
				t.Errorf("the repeat wrote %d times at the simulators, want 0", got-afterFirst)
			}
			if _, after, _ := getList(t, base, "count=0"); after.TotalResults != before.TotalResults {
				t.Errorf("the repeat changed the users: %d -> %d", before.TotalResults, after.TotalResults)
			}
			for _, r := range first {
				if r.Location == "" {
					continue
				}
				if status, _, b := call(t, "GET", base+r.Location, ""); status != 404 {
					t.Errorf("GET %s after the repeat: %d %s, want 404 (deleted, not re-created)", r.Location, status, b)
				}
			}
		})
	}
}

// TestSCIMCreateReportsApplied: a POST that creates the account at a
// target reports it applied (and created), even when the create call
// carried every field and the update after it had nothing left to send
// (before, such a target read "unchanged" or "skipped" with created true).
func TestSCIMCreateReportsApplied(t *testing.T) {
	_, cfg := devSims(t)
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})
	status, _, body := call(t, "POST", base+"/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"made.here","emails":[{"value":"made.here@example.com","primary":true}]}`)
	if status != 201 {
		t.Fatalf("POST: %d %s", status, body)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	var ext struct {
		Targets map[string]struct {
			Status  string
			Created bool
		}
	}
	if err := json.Unmarshal(doc[scim.SchemaGateway], &ext); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, target := range []string{"commvault", "frontier"} {
		if r := ext.Targets[target]; !r.Created || r.Status != "applied" {
			t.Errorf("%s: %+v, want created and applied (%s)", target, r, body)
		}
	}
}

// bulkOutcome is one operation's status and location in a SCIM
// BulkResponse (comparable, unlike bulkResult).
type bulkOutcome struct{ Status, Location string }

// postBulk sends a SCIM Bulk request that must answer 200 and returns its
// operations' outcomes.
func postBulk(t *testing.T, base, body string) []bulkOutcome {
	t.Helper()
	status, _, b := call(t, "POST", base+"/scim/v2/Bulk", body)
	if status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	var res struct{ Operations []bulkOutcome }
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res.Operations
}
