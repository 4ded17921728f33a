package canonical

// CheckID checks an id (a path id, a vendor id) by the rules every id obeys
// (present, bounded, nothing that changes a URL's meaning) and returns an
// invalid_request *Error naming path, or nil.
func CheckID(path, id string) error {
	var fe FieldErrors
	checkID(&fe, path, id)
	return fe.Err("invalid id")
}
