package httpapi

import "strings"

// documentedRoute turns a Fiber route pattern into the form the API
// documentation and api/openapi.yaml use, for messages a caller reads:
// "/v1/users/:id" is "/v1/users/{id}" and the escaped colon of
// "/v1/users\:batch" is a plain one.
func documentedRoute(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + strings.TrimSuffix(name, "?") + "}"
		}
	}
	return strings.ReplaceAll(strings.Join(segs, "/"), `\:`, ":")
}
