package canonical

import "log/slog"

// Secret is a value that must never be shown: passwords, tokens, API keys.
// Its String, GoString, LogValue and MarshalJSON all render "[redacted]".
// The zero value is an empty secret.
type Secret string

const redacted = "[redacted]"

// Reveal returns the clear value. Call it only where a vendor request is built.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer and never shows the value.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer for %#v.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used by map keys, YAML, etc.).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Redacted is the text that stands for a hidden value in every rendering.
const Redacted = redacted
