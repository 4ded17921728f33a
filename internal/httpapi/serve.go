package httpapi

import (
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Server is the gateway's HTTP API, ready to serve. It keeps the Fiber app
// inside this package, so the wiring and its tests never import Fiber.
type Server struct {
	app *fiber.App
}

// NewServer builds the HTTP API from o.
func NewServer(o Options) *Server {
	return &Server{app: buildApp(o)}
}

// Serve serves on ln until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.app.Listener(ln)
}

// Shutdown stops accepting connections and waits up to grace for the
// requests in flight (0 waits for all of them).
func (s *Server) Shutdown(grace time.Duration) error {
	return s.app.ShutdownWithTimeout(grace)
}

// Route is one registered route: its method and its path pattern as the
// router spells it (":id" for a parameter, "\\:" for a literal colon).
type Route struct {
	Method, Path string
}

// Routes lists the registered routes, each method and path once (the
// OpenAPI contract test checks each is described).
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.app.GetRoutes(true) {
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	return out
}
