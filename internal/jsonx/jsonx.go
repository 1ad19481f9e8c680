// Package jsonx writes the JSON of the two hottest answers, an upload
// signature and its POST policy, without encoding/json's reflection, for the
// common case where no string needs escaping.
//
// Hand-written because the standard library's allocation-free string quoting
// (encoding/json/jsontext) still needs GOEXPERIMENT=jsonv2, and a whole
// third-party encoder would be a large dependency for one response. Callers
// fall back to encoding/json whenever Plain says a string needs escaping, so
// the output is always byte for byte what encoding/json writes (the tests of
// each caller check that).
package jsonx

// Plain reports whether encoding/json writes each of ss as itself between
// double quotes: printable ASCII without '"', '\\' and the HTML characters
// '<', '>' and '&' that it escapes by default.
func Plain(ss ...string) bool {
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
				return false
			}
		}
	}
	return true
}

// AppendString appends s, which must be Plain, as a JSON string.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
