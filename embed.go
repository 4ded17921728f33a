// Package identitygateway holds what the binary carries with it: the built-in
// quick-start configuration, so `gateway dev` runs from any directory with
// nothing else on disk, and the HTTP API's OpenAPI description and its page,
// so every gateway serves its own contract.
package identitygateway

import _ "embed"

// DefaultConfig is gateway.yaml as checked in.
//
//go:embed gateway.yaml
var DefaultConfig []byte

// OpenAPI is api/openapi.yaml, the HTTP API's contract; the gateway serves
// it as JSON at GET /openapi.json.
//
//go:embed api/openapi.yaml
var OpenAPI []byte

// DocsPage is api/docs.html, the page GET /docs serves with the OpenAPI
// description inlined at {{SPEC}}: it renders it with no network fetch.
//
//go:embed api/docs.html
var DocsPage []byte
