package commvaultsim

import (
	"net/http"
	"strconv"
)

// Seeded is the simulator as `gateway sim` and `gateway dev` run it: the
// demo user plus extraUsers numbered ones (SeedUsers), and the ${VAR}s
// gateway.yaml's commvault block needs besides COMMVAULT_URL.
func Seeded(extraUsers int) (http.Handler, map[string]string) {
	s := New()
	d := s.SeedDemo()
	s.SeedUsers(extraUsers)
	return s, map[string]string{"COMMVAULT_USERNAME": d.Username, "COMMVAULT_PASSWORD": d.Password, "COMMVAULT_DEMO_ID": strconv.Itoa(int(d.UserID))}
}
