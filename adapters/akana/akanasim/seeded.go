package akanasim

import "net/http"

// Seeded is the simulator as `gateway sim` and `gateway dev` run it: the
// demo tenant's admin and user plus extraUsers numbered ones (SeedUsers),
// and the ${VAR}s gateway.yaml's akana block needs besides AKANA_URL.
func Seeded(extraUsers int) (http.Handler, map[string]string) {
	s := New(DemoTenant)
	d := s.SeedDemo()
	s.SeedUsers(extraUsers)
	return s, map[string]string{"AKANA_USERNAME": d.AdminEmail, "AKANA_PASSWORD": d.AdminPassword, "AKANA_DEMO_ID": d.UserID, "AKANA_TENANT": d.Tenant}
}
