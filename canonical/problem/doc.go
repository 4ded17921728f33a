// Package problem renders a [canonical.Error] as an RFC 9457 problem
// details document (application/problem+json), with the gateway's
// extension members: the canonical code, every bad field, and the seconds
// to wait before a retry.
package problem
