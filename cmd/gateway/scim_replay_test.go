package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/config"
)

type scimStep struct {
	Method, Path, Body string
	Status             int
	Capture            string
	Fanout             bool
	Expect             map[string]any
}

// TestSCIMReplay replays the Okta and Entra request sequences
// (internal/httpapi/scim/testdata) against gateway dev with SCIM writing to
// Commvault and Frontier, whose simulators hold each flow's user (linked
// by e-mail resolution). Every write is sent twice: the repeat must leave
// both simulators' write logs as they were.
func TestSCIMReplay(t *testing.T) {
	for _, tc := range []struct {
		file, email string
		// create: the simulators hold no account for the user, so POST
		// creates one at each (Frontier's and Commvault's create calls).
		create bool
	}{
		{"okta.json", "test.user@okta.local", false},
		{"entra.json", "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com", false},
		{"okta.json", "test.user@okta.local", true},
		{"entra.json", "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com", true},
	} {
		name := strings.TrimSuffix(tc.file, ".json")
		if tc.create {
			name += "/create"
		}
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "internal", "httpapi", "scim", "testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var flow struct{ Steps []scimStep }
			if err := json.Unmarshal(raw, &flow); err != nil {
				t.Fatal(err)
			}
			sims, cfg := devSims(t)
			fsim, csim := sims.handlers["frontier"].(*frontiersim.Sim), sims.handlers["commvault"].(*commvaultsim.Sim)
			if !tc.create {
				fsim.AddUser(frontiersim.User{ID: "5f0c6a7e-1111-4222-8333-444455556666", Name: "scimuser", Email: tc.email})
				csim.AddUser(commvaultsim.User{ID: 4242, Name: "scimuser", FullName: "Scim User", Email: tc.email, Password: "x-unused-1", Enabled: true, AuthMethod: "LOCAL"})
			}
			cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"},
				Attributes: map[string]string{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "metadata.employee_number"}}
			base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})
			vars := map[string]string{}
			subst := func(s string) string {
				for k, v := range vars {
					s = strings.ReplaceAll(s, "{{"+k+"}}", v)
				}
				return s
			}
			writes := func() int { return len(simWrites(t, sims, "commvault")) + len(simWrites(t, sims, "frontier")) }
			for i, st := range flow.Steps {
				status, hdr, body := call(t, st.Method, base+subst(st.Path), subst(st.Body), "Content-Type", "application/scim+json")
				if status != st.Status {
					t.Fatalf("step %d %s %s: status %d, want %d: %s", i, st.Method, st.Path, status, st.Status, body)
				}
				if len(body) > 0 && !strings.HasPrefix(hdr.Get("Content-Type"), "application/scim+json") {
					t.Errorf("step %d: Content-Type %q", i, hdr.Get("Content-Type"))
				}
				var got map[string]any
				if len(body) > 0 {
					if err := json.Unmarshal(body, &got); err != nil {
						t.Fatalf("step %d: %v: %s", i, err, body)
					}
				}
				if st.Capture != "" {
					vars[st.Capture], _ = got[st.Capture].(string)
				}
				if st.Method == "POST" && st.Status == 201 {
					ext, _ := got["urn:identity-gateway:scim:extension:2.0:Result"].(map[string]any)
					targets, _ := ext["targets"].(map[string]any)
					for _, v := range []string{"commvault", "frontier"} {
						r, _ := targets[v].(map[string]any)
						if tc.create {
							vid, _ := r["vendorId"].(string)
							var ok bool
							if v == "frontier" {
								var fu frontiersim.User
								fu, ok = fsim.User(vid)
								ok = ok && fu.Email == strings.ToLower(tc.email)
							} else {
								n, _ := strconv.Atoi(vid)
								var cu commvaultsim.User
								cu, ok = csim.User(int32(n))
								ok = ok && strings.EqualFold(cu.Email, tc.email)
							}
							if !ok {
								t.Errorf("step %d: %s holds no created account %q", i, v, vid)
							}
						}
						if created, _ := r["created"].(bool); created != tc.create || !slices.Contains([]any{"applied", "unchanged", "skipped"}, r["status"]) {
							t.Errorf("step %d: %s result %v, want created=%v and applied, unchanged or skipped", i, v, r, tc.create)
						}
					}
				}
				var want map[string]any
				b, _ := json.Marshal(st.Expect)
				_ = json.Unmarshal([]byte(subst(string(b))), &want)
				if !subset(want, got) {
					t.Errorf("step %d %s %s: body %s does not hold %s", i, st.Method, st.Path, body, b)
				}
				if st.Fanout {
					ext, _ := got["urn:identity-gateway:scim:extension:2.0:Result"].(map[string]any)
					targets, _ := ext["targets"].(map[string]any)
					if len(targets) != 2 || targets["commvault"] == nil || targets["frontier"] == nil {
						t.Errorf("step %d: per-target results %v, want commvault and frontier", i, ext)
					}
				}
				if st.Method == "PATCH" || st.Method == "PUT" {
					defer func(step int) {
						// The trail holds the write once: the repeat wrote nothing.
						status, _, body := call(t, "GET", base+"/v1/audit?user="+vars["id"], "")
						var page struct {
							Records []struct{ Action, Client string }
						}
						_ = json.Unmarshal(body, &page)
						n := 0
						for _, r := range page.Records {
							if r.Action == "scim."+strings.ToLower(map[string]string{"PUT": "replace", "PATCH": "patch"}[st.Method]) {
								n++
							}
						}
						if status != 200 || n == 0 {
							t.Errorf("step %d: audit trail %d %s has no %s record", step, status, body, st.Method)
						}
					}(i)
					before := writes()
					status, _, body := call(t, st.Method, base+subst(st.Path), subst(st.Body), "Content-Type", "application/scim+json")
					if status != st.Status {
						t.Fatalf("step %d repeated: status %d: %s", i, status, body)
					}
					if after := writes(); after != before {
						t.Errorf("step %d repeated: %d vendor writes, want none", i, after-before)
					}
				}
			}
		})
	}
}

// subset reports whether every member of want is in got with an equal
// value (objects compared member by member).
func subset(want, got any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range wm {
		if !subset(v, gm[k]) {
			return false
		}
	}
	return true
}

// TestSCIMDiscovery checks the discovery documents describe what is
// served, and that an unknown route under /scim/v2 answers a SCIM error.
func TestSCIMDiscovery(t *testing.T) {
	base, _ := devGateway(t)
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/scim/v2/ServiceProviderConfig", 200, `{"patch":{"supported":true},"bulk":{"supported":true,"maxOperations":100},"filter":{"supported":true,"maxResults":100},"sort":{"supported":false},"etag":{"supported":false}}`},
		{"/scim/v2/ResourceTypes/User", 200, `{"id":"User","endpoint":"/Users","schema":"urn:ietf:params:scim:schemas:core:2.0:User"}`},
		{"/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", 200, `{"id":"urn:ietf:params:scim:schemas:core:2.0:User","name":"User"}`},
		{"/scim/v2/Users?filter=userName%20eq", 400, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter"}`},
		{"/scim/v2/Users?startIndex=x", 400, `{"status":"400","scimType":"invalidValue"}`},
		{"/scim/v2/Groups", 404, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404"}`},
	} {
		status, _, body := call(t, "GET", base+tc.path, "")
		var got, want map[string]any
		_ = json.Unmarshal(body, &got)
		_ = json.Unmarshal([]byte(tc.want), &want)
		if status != tc.status || !subset(want, got) {
			t.Errorf("GET %s: %d %s, want %d holding %s", tc.path, status, body, tc.status, tc.want)
		}
	}
}

// TestSCIMPartialFailureRetry: Entra's PATCH fans out to Commvault and
// Frontier; Frontier fails (every attempt 503), so the answer is a SCIM
// 5xx listing both targets' results, and Entra's resend of the same
// request writes Frontier only: Commvault, already applied, is not written
// twice.
func TestSCIMPartialFailureRetry(t *testing.T) {
	sims, cfg := devSims(t)
	const email = "retry.user@example.com"
	sims.handlers["frontier"].(*frontiersim.Sim).AddUser(frontiersim.User{ID: "6f0c6a7e-1111-4222-8333-444455556666", Name: "retryuser", Email: email})
	sims.handlers["commvault"].(*commvaultsim.Sim).AddUser(commvaultsim.User{ID: 4343, Name: "retryuser", Email: email, Password: "x-unused-1", Enabled: true, AuthMethod: "LOCAL"})
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})
	status, _, body := call(t, "POST", base+"/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"retry.user","emails":[{"value":"`+email+`","primary":true}],"active":true}`)
	if status != 201 {
		t.Fatalf("POST %d %s", status, body)
	}
	var created map[string]any
	_ = json.Unmarshal(body, &created)
	id, _ := created["id"].(string)

	fault(t, sims, "frontier", `{"fail_times":1000,"status":503,"methods":["POST","PUT"]}`)
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`
	cvBefore, frBefore := len(simWrites(t, sims, "commvault")), len(simWrites(t, sims, "frontier"))
	status, hdr, body := call(t, "PATCH", base+"/scim/v2/Users/"+id, patch)
	if status != 503 && status != 502 {
		t.Fatalf("PATCH with Frontier down: %d %s, want a 5xx", status, body)
	}
	var e map[string]any
	_ = json.Unmarshal(body, &e)
	targets, _ := e["urn:identity-gateway:scim:extension:2.0:Result"].(map[string]any)["targets"].(map[string]any)
	cv, _ := targets["commvault"].(map[string]any)
	fr, _ := targets["frontier"].(map[string]any)
	if e["status"] != strconv.Itoa(status) || cv["status"] != "applied" || fr["status"] != "failed" || hdr.Get("Retry-After") == "" {
		t.Fatalf("5xx body %s (Retry-After %q), want commvault applied, frontier failed", body, hdr.Get("Retry-After"))
	}
	cvWrites := len(simWrites(t, sims, "commvault"))
	if cvWrites == cvBefore {
		t.Fatal("commvault was not written")
	}

	resp, err := http.NewRequest("DELETE", sims.addrs["frontier"]+"/_fault", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := http.DefaultClient.Do(resp); err != nil {
		t.Fatal(err)
	} else {
		r.Body.Close()
	}
	frFailed := len(simWrites(t, sims, "frontier"))
	status, _, body = call(t, "PATCH", base+"/scim/v2/Users/"+id, patch)
	if status != 200 {
		t.Fatalf("resent PATCH: %d %s", status, body)
	}
	if got := len(simWrites(t, sims, "commvault")); got != cvWrites {
		t.Errorf("the resend wrote commvault again: %d writes, want %d", got, cvWrites)
	}
	if got := len(simWrites(t, sims, "frontier")); got != frFailed+1 {
		t.Errorf("frontier writes %d -> %d -> %d: want the resend to write it once (its failed attempts never reached the simulator)", frBefore, frFailed, got)
	}
	var res map[string]any
	_ = json.Unmarshal(body, &res)
	if res["active"] != false {
		t.Errorf("resent PATCH body %s, want active false", body)
	}
}

// TestSCIMBulk: operations run in order, a later one addresses the user an
// earlier POST created through its bulkId, and failOnErrors stops the run.
func TestSCIMBulk(t *testing.T) {
	sims, cfg := devSims(t)
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})
	_ = sims
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[
	 {"method":"POST","path":"/Users","bulkId":"u1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulk.user","emails":[{"value":"bulk.user@example.com","primary":true}],"displayName":"Bulk User"}},
	 {"method":"PATCH","path":"/Users/bulkId:u1","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}},
	 {"method":"POST","path":"/Users","bulkId":"dup","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulk.user"}},
	 {"method":"DELETE","path":"/Users/bulkId:u1"}]}`
	status, _, b := call(t, "POST", base+"/scim/v2/Bulk", body)
	if status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	var res struct {
		Operations []map[string]any
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	var got []any
	for _, op := range res.Operations {
		got = append(got, op["status"])
	}
	if !reflect.DeepEqual(got, []any{"201", "200", "409"}) {
		t.Fatalf("statuses %v, want 201, 200, 409 and a stop after the first error: %s", got, b)
	}
	loc, _ := res.Operations[0]["location"].(string)
	status, _, b = call(t, "GET", base+loc, "")
	var u map[string]any
	_ = json.Unmarshal(b, &u)
	if status != 200 || u["active"] != false {
		t.Fatalf("GET %s: %d %s, want the user, inactive (the DELETE after the error did not run)", loc, status, b)
	}
}

// TestSCIMHardDelete: with scim.hard_delete [frontier], DELETE removes the
// Frontier account (DELETE /v1beta1/users/{uuid}) and deactivates the
// Commvault one.
func TestSCIMHardDelete(t *testing.T) {
	sims, cfg := devSims(t)
	const email = "gone.user@example.com"
	fsim, csim := sims.handlers["frontier"].(*frontiersim.Sim), sims.handlers["commvault"].(*commvaultsim.Sim)
	const fid = "7f0c6a7e-1111-4222-8333-444455556666"
	fsim.AddUser(frontiersim.User{ID: fid, Name: "goneuser", Email: email})
	csim.AddUser(commvaultsim.User{ID: 4444, Name: "goneuser", Email: email, Password: "x-unused-1", Enabled: true, AuthMethod: "LOCAL"})
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}, HardDelete: []string{"frontier"}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})
	status, _, body := call(t, "POST", base+"/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"gone.user","emails":[{"value":"`+email+`","primary":true}]}`)
	if status != 201 {
		t.Fatalf("POST %d %s", status, body)
	}
	var u map[string]any
	_ = json.Unmarshal(body, &u)
	if status, _, body = call(t, "DELETE", base+"/scim/v2/Users/"+u["id"].(string), ""); status != 204 {
		t.Fatalf("DELETE %d %s", status, body)
	}
	if _, ok := fsim.User(fid); ok {
		t.Error("the Frontier account is still there")
	}
	if cu, ok := csim.User(4444); !ok || cu.Enabled {
		t.Errorf("commvault account %+v (found %v), want it kept and disabled", cu, ok)
	}
}
