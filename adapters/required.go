package adapters

// MissingRequired names the interfaces of the required set that a does not
// implement. Adapter alone can write; every built-in vendor must also
// preflight ops before any call (Preflighter), tell whether an update
// already holds so a re-run after a crash does not write twice (Verifier),
// read a user back (Reader) and prove its credential without changing
// anything (Checker). The vendor registry's test and adaptertest.Run fail
// on any name returned. The others (Classifier, ReadModifyWriter, Resolver)
// stay optional: only some vendors need them.
func MissingRequired(a Adapter) []string {
	var out []string
	if _, ok := a.(Preflighter); !ok {
		out = append(out, "Preflighter")
	}
	if _, ok := a.(Verifier); !ok {
		out = append(out, "Verifier")
	}
	if _, ok := a.(Reader); !ok {
		out = append(out, "Reader")
	}
	if _, ok := a.(Checker); !ok {
		out = append(out, "Checker")
	}
	return out
}
