package volterrasim

import "net/http"

// Seeded is the simulator as `gateway sim` and `gateway dev` run it: the
// demo user plus extraUsers numbered ones (SeedUsers), and the ${VAR}s
// gateway.yaml's volterra block needs besides VOLTERRA_URL.
func Seeded(extraUsers int) (http.Handler, map[string]string) {
	s := New()
	d := s.SeedDemo()
	s.SeedUsers(extraUsers)
	return s, map[string]string{"VOLTERRA_TOKEN": d.Token, "VOLTERRA_DEMO_ID": d.UserUUID}
}
