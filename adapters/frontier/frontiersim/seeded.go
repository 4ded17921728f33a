package frontiersim

import "net/http"

// Seeded is the simulator as `gateway sim` and `gateway dev` run it: the
// demo user plus extraUsers numbered ones (SeedUsers), and the ${VAR}s
// gateway.yaml's frontier block needs besides FRONTIER_URL.
func Seeded(extraUsers int) (http.Handler, map[string]string) {
	s := New()
	d := s.SeedDemo()
	s.SeedUsers(extraUsers)
	return s, map[string]string{"FRONTIER_USERNAME": d.ClientID, "FRONTIER_PASSWORD": d.ClientSecret, "FRONTIER_DEMO_ID": d.UserID}
}
