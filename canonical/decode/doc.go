// Package decode turns an update's JSON body into a [canonical.Request]:
// strictly (null and unknown members are refused, each unknown name with
// the nearest known one), reporting every bad field at once by its JSON
// path, and bounding free-form values. It splits the body with a small
// hand-written tokenizer (scan.go) instead of a json.Decoder per level;
// BenchmarkDecode keeps the gain honest. Validation of the decoded values
// is [canonical.Request.Validate].
package decode
