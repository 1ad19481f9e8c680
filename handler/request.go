package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// decodeJSON reads one JSON object into dst, refusing what encoding/json
// lets through: unknown fields (it matches names case-insensitively, even
// folding "ſ" to "s"), repeated fields (it keeps the last), trailing data, and
// text it would silently turn into U+FFFD (raw invalid UTF-8, escaped lone
// surrogates). A proxy or log that reads the body must see what we act on.
func decodeJSON(c echo.Context, dst any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he // body limit
		}
		return invalidRequest("could not read the request body")
	}
	if !utf8.Valid(body) || hasLoneSurrogate(body) {
		return invalidRequest("request body is not valid UTF-8")
	}
	if len(bytes.TrimSpace(body)) == 0 || bytes.TrimSpace(body)[0] != '{' {
		return invalidRequest("request body must be a JSON object")
	}
	if err := checkFieldNames(body, jsonFields(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return invalidRequest(describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidRequest("unexpected data after the JSON object")
	}
	return nil
}

// checkFieldNames walks the top-level object: every key must be exactly one
// of fields, and appear once.
func checkFieldNames(body []byte, fields map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the opening brace
		return invalidRequest(describeJSONError(err))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return invalidRequest(describeJSONError(err))
		}
		key, _ := tok.(string)
		switch {
		case !fields[key]:
			return invalidRequest(fmt.Sprintf("unknown field %q", key))
		case seen[key]:
			return invalidRequest(fmt.Sprintf("field %q given twice", key))
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return invalidRequest(describeJSONError(err))
		}
	}
	return nil
}

// jsonFields lists the json names of a *struct's fields. The request types
// have one or two fields each: reading their tags costs less than the
// decoding that follows, so nothing is cached.
func jsonFields(dst any) map[string]bool {
	t := reflect.TypeOf(dst).Elem()
	fields := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = true
		}
	}
	return fields
}

// hasLoneSurrogate reports a \uD800–\uDFFF escape that is not a high
// surrogate followed by a low one. Escapes only occur inside strings, so a
// plain scan of backslash pairs finds them all.
func hasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			return false // malformed: the decoder reports it
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			low, ok := hex4(b, i+8)
			if !ok || i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		}
		return "request body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	// DisallowUnknownFields reports `json: unknown field "x"`.
	if msg := err.Error(); len(msg) > 6 && msg[:6] == "json: " {
		return msg[6:]
	}
	return "malformed JSON"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int64", "int", "int32":
		return "an integer"
	}
	return "of another type"
}
