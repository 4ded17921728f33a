// Package httpapi is the gateway's HTTP surface (Fiber v2): client
// authentication, request limits, decoding and validation into the canonical
// model, problem+json errors, the capability matrix and health endpoints.
//
// Fiber reuses its request buffers, so every value that outlives a handler
// (path id, body, headers) is copied out of the *fiber.Ctx before it is
// handed to the dispatcher. Fiber is imported by this package only.
package httpapi
