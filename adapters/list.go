package adapters

import "context"

// Listed is one user as a vendor's list shows it: enough to read the user
// back (VendorID) and to find the same person elsewhere (Username, Email).
type Listed struct {
	VendorID string
	Username string
	Email    string
}

// Lister is implemented by adapters whose vendor can enumerate its users
// (gateway migrate --all). List pages through the vendor's documented list
// call, sending only Read and Auth calls through do, and hands each user to
// each in the vendor's order, without holding more than one page. It
// stops at the first error each returns and returns it. A list the vendor
// pages without a stable order may show a user twice; callers key their
// work by user, so a repeat is harmless.
type Lister interface {
	List(ctx context.Context, do Doer, each func(Listed) error) error
}
