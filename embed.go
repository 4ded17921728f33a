// Package identitygateway holds the built-in quick-start configuration, so
// `gateway dev` runs from any directory with nothing else on disk.
package identitygateway

import _ "embed"

// DefaultConfig is gateway.yaml as checked in.
//
//go:embed gateway.yaml
var DefaultConfig []byte
