package auth

import (
	"crypto/x509"
	"slices"
)

// CertNames lists the names a client certificate can be matched by: its
// subject as Go prints a distinguished name ("CN=hr-sync,O=Example"), and
// its URI (SPIFFE IDs), DNS and e-mail SANs.
func CertNames(c *x509.Certificate) (subject string, sans []string) {
	for _, u := range c.URIs {
		sans = append(sans, u.String())
	}
	sans = append(sans, c.DNSNames...)
	sans = append(sans, c.EmailAddresses...)
	return c.Subject.String(), sans
}

// CertMatches reports whether the certificate carries the configured
// subject (exact) or one of the configured SANs (exact).
func CertMatches(c *x509.Certificate, subject string, sans []string) bool {
	sub, have := CertNames(c)
	if subject != "" && sub == subject {
		return true
	}
	for _, s := range sans {
		if slices.Contains(have, s) {
			return true
		}
	}
	return false
}
