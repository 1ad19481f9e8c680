package handler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// hostileCase is one hostile request and the exact answer the contract asks
// for; any other answer, a 5xx above all, fails.
type hostileCase struct {
	name   string
	method string
	path   string
	auth   string // "" none; tokenValid: a valid session; anything else: the raw Authorization header
	body   string
	header []string // name, value pairs; Content-Type defaults to application/json
	// chunked sends the body with an unknown length, so that only reading
	// it can find it too large.
	chunked bool
	status  int
	code    string // error.code; "" for a 2xx
}

const tokenValid = "\x00valid"

// nest returns open, then n levels of "[", then close, then n "]"s.
func nest(open string, n int, close string) string {
	return open + strings.Repeat("[", n) + strings.Repeat("]", n) + close
}

// sized fills a body with pad between open and close to exactly n bytes.
func sized(open, pad string, n int, close string) string {
	return open + strings.Repeat(pad, n-len(open)-len(close)) + close
}

// hostileCases throws malformed JSON, wrong types, unknown fields, null,
// arrays, huge bodies, deep nesting, invalid UTF-8, unicode edge cases, path
// traversal and SQL metacharacters at every route.
func hostileCases() []hostileCase {
	var cs []hostileCase
	add := func(c ...hostileCase) { cs = append(cs, c...) }
	huge := sized(`{"code":"`, "a", 16<<10+1, `"}`) // one byte over 16 KiB
	deep := `{"code":` + strings.Repeat("[", 12000) // past encoding/json's 10000 levels, inside 16 KiB
	deepClosed := nest(`{"code":`, 7900, `}`)       // 7900 levels, 15809 bytes
	deepClosedLarge := nest(`{"code":`, 8180, `}`)  // 8180 levels, 16369 bytes
	deepObject := `{"nickname":` + strings.Repeat(`{"a":`, 2500) + `1` + strings.Repeat(`}`, 2501)
	const (
		bad400  = 400
		invalid = "invalid_request"
	)

	// Bodies every JSON route must refuse as invalid_request, whatever the
	// route wants inside the object.
	malformed := []struct{ name, body string }{
		{"empty body", ``},
		{"white space only", " \n\t "},
		{"null", `null`},
		{"array", `[]`},
		{"array of the object", `[{"code":"dev-a"}]`},
		{"string", `"dev-a"`},
		{"number", `42`},
		{"true", `true`},
		{"truncated", `{"code":`},
		{"unterminated string", `{"code":"dev-a`},
		{"trailing comma", `{"code":"dev-a",}`},
		{"single quotes", `{'code':'dev-a'}`},
		{"unquoted key", `{code:"dev-a"}`},
		{"comment", `{/* c */"code":"dev-a"}`},
		{"NaN", `{"size":NaN}`},
		{"trailing data", `{"code":"dev-a"} x`},
		{"two objects", `{"code":"dev-a"}{"code":"dev-b"}`},
		{"UTF-8 BOM", "\ufeff{\"code\":\"dev-a\"}"},
		{"UTF-16 body", "\xff\xfe{\x00}\x00"},
		{"invalid UTF-8", "{\"code\":\"dev-\xff\"}"},
		{"overlong '/'", "{\"code\":\"dev-\xc0\xaf\"}"},
		{"CESU-8 surrogate", "{\"code\":\"dev-\xed\xa0\x80\"}"},
		{"raw NUL in a string", "{\"code\":\"dev-a\x00\"}"},
		{"raw NUL outside", "{\"code\":\"dev-a\"}\x00"},
		{"raw newline in a string", "{\"code\":\"dev\na\"}"},
		{"bad escape", `{"code":"\x41"}`},
		{"short unicode escape", `{"code":"\u12"}`},
		{"deep nesting past the decoder's limit", deep},
		{"deep nesting, closed", deepClosed},
		{"deep nesting, closed, near 16 KiB", deepClosedLarge},
		{"deeply nested objects", deepObject},
		{"unknown field", `{"admin":true}`},
		{"prototype pollution", `{"__proto__":{"admin":true}}`},
		{"NoSQL operator", `{"code":{"$ne":null}}`},
	}
	jsonRoutes := []struct {
		method, path, auth string
		ok                 string // a body the route accepts
		okStatus           int
	}{
		{http.MethodPost, "/v1/session", "", `{"code":"dev-a"}`, 200},
		{http.MethodPatch, "/v1/me", tokenValid, `{"nickname":"x"}`, 200},
		{http.MethodPut, "/v1/me", tokenValid, `{"nickname":"x"}`, 200},
		{http.MethodPost, "/v1/avatar/uploads", tokenValid, `{"content_type":"image/png"}`, 201},
	}
	for _, r := range jsonRoutes {
		for _, m := range malformed {
			c := hostileCase{name: m.name, method: r.method, path: r.path, auth: r.auth, body: m.body, status: bad400, code: invalid}
			add(c)
		}
		// The contract's limit is 16 KiB: a body of 16384 bytes is served,
		// one byte more is refused.
		okOpen := r.ok[:len(r.ok)-1]
		for _, n := range []int{16000, 16001, 16 << 10} {
			c := hostileCase{name: fmt.Sprintf("valid body of %d bytes", n), method: r.method, path: r.path, auth: r.auth,
				body: sized(okOpen, " ", n, "}"), status: r.okStatus}
			add(c)
		}
		add(
			hostileCase{name: "valid body of 16385 bytes", method: r.method, path: r.path, auth: r.auth,
				body: sized(okOpen, " ", 16<<10+1, "}"), status: 413, code: "request_too_large"},
			hostileCase{name: "body over 16 KiB", method: r.method, path: r.path, auth: r.auth, body: huge,
				status: 413, code: "request_too_large"},
			hostileCase{name: "body over 16 KiB, unknown length", method: r.method, path: r.path, auth: r.auth, body: huge,
				chunked: true, status: 413, code: "request_too_large"},
			hostileCase{name: "1 MiB of whitespace", method: r.method, path: r.path, auth: r.auth,
				body: strings.Repeat(" ", 1<<20), chunked: true, status: 413, code: "request_too_large"},
		)
		if r.auth != "" {
			for _, a := range []string{"", "Bearer ' OR '1'='1", "Bearer ../../etc/passwd"} {
				// The session is checked before the body is read.
				add(hostileCase{name: "no session, malformed body", method: r.method, path: r.path, auth: a,
					body: `{"nickname":`, status: 401, code: "unauthorized"})
			}
		}
		// Wrong Content-Type: the contract names no error for it and the
		// body is held to JSON whatever it is labelled, so a JSON body is
		// served and anything else is invalid_request.
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
			add(
				hostileCase{name: "Content-Type " + ct + ", form body", method: r.method, path: r.path, auth: r.auth,
					body: "code=dev-a&nickname=x", header: []string{"Content-Type", ct}, status: bad400, code: invalid},
				hostileCase{name: "Content-Type " + ct + ", JSON body", method: r.method, path: r.path, auth: r.auth,
					body: r.ok, header: []string{"Content-Type", ct}, status: r.okStatus},
			)
		}
	}

	// POST /v1/session: wrong types and hostile codes.
	session := func(name, body string, status int, code string) hostileCase {
		return hostileCase{name: name, method: http.MethodPost, path: "/v1/session", body: body, status: status, code: code}
	}
	add(
		session("code is a number", `{"code":42}`, bad400, invalid),
		session("code is a float", `{"code":1.5}`, bad400, invalid),
		session("code is a boolean", `{"code":true}`, bad400, invalid),
		session("code is an object", `{"code":{}}`, bad400, invalid),
		session("code is an array", `{"code":["dev-a"]}`, bad400, invalid),
		session("code is null", `{"code":null}`, bad400, invalid),
		session("code missing", `{}`, bad400, invalid),
		session("code empty", `{"code":""}`, bad400, invalid),
		session("code of 129 characters", `{"code":"dev-`+strings.Repeat("a", 125)+`"}`, bad400, invalid),
		hostileCase{name: "code filling 16 KiB", method: http.MethodPost, path: "/v1/session", body: sized(`{"code":"`, "a", 16<<10, `"}`),
			status: bad400, code: invalid},
		session("code with a space", `{"code":"dev- a"}`, bad400, invalid),
		session("code with escaped NUL", `{"code":"dev-a\u0000"}`, bad400, invalid),
		session("code with escaped newline", `{"code":"dev-a\n"}`, bad400, invalid),
		session("code with DEL", `{"code":"dev-a\u007f"}`, bad400, invalid),
		session("code with non-ASCII", `{"code":"dev-é"}`, bad400, invalid),
		session("code with a fullwidth letter", `{"code":"dev-ａ"}`, bad400, invalid),
		session("code with RTL override", `{"code":"dev-\u202ea"}`, bad400, invalid),
		session("code with BOM", `{"code":"\ufeffdev-a"}`, bad400, invalid),
		session("code with lone surrogate", `{"code":"dev-\ud800"}`, bad400, invalid),
		session("code with SQL injection", `{"code":"1' OR '1'='1"}`, bad400, invalid),
		session("code with SQL statement", `{"code":";DROP TABLE users;--"}`, bad400, invalid),
		session("code with SQL statement, no spaces", `{"code":";DROP/**/TABLE/**/users;--"}`, 401, "invalid_code"),
		session("dev code with SQL quote", `{"code":"dev-a'--"}`, 401, "invalid_code"),
		session("code with path traversal", `{"code":"../../etc/passwd"}`, 401, "invalid_code"),
		session("dev code with path traversal", `{"code":"dev-../../etc/passwd"}`, 401, "invalid_code"),
		session("code with encoded traversal", `{"code":"%2e%2e%2f%2e%2e%2f"}`, 401, "invalid_code"),
		session("code with template syntax", `{"code":"${jndi:ldap://x/a}"}`, 401, "invalid_code"),
		session("unknown field beside a valid code", `{"code":"dev-a","openid":"o-admin"}`, bad400, invalid),
		hostileCase{name: "code in another case", method: http.MethodPost, path: "/v1/session", body: `{"CODE":"dev-a"}`,
			status: bad400, code: invalid},
		hostileCase{name: "duplicate code", method: http.MethodPost, path: "/v1/session", body: `{"code":"dev-admin","code":"dev-a"}`,
			status: bad400, code: invalid},
		session("duplicate code, last invalid", `{"code":"dev-a","code":"' OR 1=1 --"}`, bad400, invalid),
		session("escaped surrogate pair", `{"code":"dev-\ud83d\ude00"}`, bad400, invalid),
	)

	// PATCH and PUT /v1/me: the nickname.
	for _, method := range []string{http.MethodPatch, http.MethodPut} {
		me := func(name, body string, status int, code string) hostileCase {
			return hostileCase{name: name, method: method, path: "/v1/me", auth: tokenValid, body: body, status: status, code: code}
		}
		const nick = "invalid_nickname"
		add(
			me("nickname is a number", `{"nickname":12}`, bad400, invalid),
			me("nickname is a boolean", `{"nickname":false}`, bad400, invalid),
			me("nickname is an object", `{"nickname":{"first":"a"}}`, bad400, invalid),
			me("nickname is an array", `{"nickname":["a"]}`, bad400, invalid),
			me("nickname is null", `{"nickname":null}`, bad400, nick),
			me("nickname missing", `{}`, bad400, nick),
			me("nickname empty", `{"nickname":""}`, bad400, nick),
			me("nickname only white space", `{"nickname":" \t\u3000\u00a0 "}`, bad400, nick),
			me("nickname of 33 characters", `{"nickname":"`+strings.Repeat("名", 33)+`"}`, bad400, nick),
			me("nickname of 15000 bytes", sized(`{"nickname":"`, "a", 15000, `"}`), bad400, nick),
			me("body of 16000 bytes", sized(`{"nickname":"`, " ", 16000, `x"}`), 200, ""),
			me("nickname with escaped NUL", `{"nickname":"a\u0000b"}`, bad400, nick),
			me("nickname with bell", `{"nickname":"a\u0007b"}`, bad400, nick),
			me("nickname with newline", `{"nickname":"a\nb"}`, bad400, nick),
			me("nickname with NEL", `{"nickname":"a\u0085b"}`, bad400, nick),
			me("nickname with BOM", `{"nickname":"\ufeffa"}`, bad400, nick),
			me("nickname with RTL override", `{"nickname":"abc\u202egpj.exe"}`, bad400, nick),
			me("nickname with RTL isolate", `{"nickname":"a\u2067b"}`, bad400, nick),
			me("nickname with zero-width space", `{"nickname":"a\u200bb"}`, bad400, nick),
			me("nickname with soft hyphen", `{"nickname":"a\u00adb"}`, bad400, nick),
			me("nickname with bare ZWJ", `{"nickname":"a\u200db"}`, bad400, nick),
			me("nickname with tag characters", `{"nickname":"a\udb40\udc41"}`, bad400, nick),
			me("nickname with invalid UTF-8", "{\"nickname\":\"a\xffb\"}", bad400, invalid),
			me("nickname with overlong NUL", "{\"nickname\":\"a\xc0\x80b\"}", bad400, invalid),
			me("nickname with overlong '/'", "{\"nickname\":\"..\xc0\xaf..\xc0\xafetc\"}", bad400, invalid),
			me("nickname with UTF-8 surrogate", "{\"nickname\":\"\xed\xa0\x80\"}", bad400, invalid),
			me("nickname with code point past U+10FFFF", "{\"nickname\":\"\xf4\x90\x80\x80\"}", bad400, invalid),
			hostileCase{name: "nickname with lone high surrogate", method: method, path: "/v1/me", auth: tokenValid,
				body: `{"nickname":"\ud800"}`, status: bad400, code: invalid},
			hostileCase{name: "nickname with lone low surrogate", method: method, path: "/v1/me", auth: tokenValid,
				body: `{"nickname":"a\udc00b"}`, status: bad400, code: invalid},
			hostileCase{name: "nickname field in another case", method: method, path: "/v1/me", auth: tokenValid,
				body: `{"NickName":"x"}`, status: bad400, code: invalid},
			hostileCase{name: "nickname field spelled with the Kelvin sign", method: method, path: "/v1/me", auth: tokenValid,
				body: `{"nic\u212aname":"x"}`, status: bad400, code: invalid},
			hostileCase{name: "duplicate nickname", method: method, path: "/v1/me", auth: tokenValid,
				body: `{"nickname":"admin","nickname":"x"}`, status: bad400, code: invalid},
			me("unknown field beside a nickname", `{"nickname":"x","avatar_url":"https://evil.example/a.png"}`, bad400, invalid),
			me("user id in the body", `{"nickname":"x","id":"aaaaaaaaaaaaaaaaaaaaaaaaaa"}`, bad400, invalid),
			// Hostile text that is a valid nickname is data: stored as is,
			// bound as a query parameter, never interpreted.
			me("nickname with SQL injection", `{"nickname":"1' OR '1'='1"}`, 200, ""),
			me("nickname with SQL statement", `{"nickname":";DROP TABLE users;--"}`, 200, ""),
			me("nickname with path traversal", `{"nickname":"../../etc/passwd"}`, 200, ""),
			me("nickname with HTML", `{"nickname":"<img src=x onerror=alert(1)>"}`, 200, ""),
			me("nickname with escaped surrogate pair", `{"nickname":"\ud83d\ude00"}`, 200, ""),
			me("nickname with emoji ZWJ sequence", `{"nickname":"👩\u200d💻"}`, 200, ""),
		)
	}

	// POST /v1/avatar/uploads.
	upload := func(name, body string, status int, code string) hostileCase {
		return hostileCase{name: name, method: http.MethodPost, path: "/v1/avatar/uploads", auth: tokenValid, body: body, status: status, code: code}
	}
	const unsupported, tooLarge = "unsupported_type", "too_large"
	add(
		upload("content_type missing", `{"size":10}`, bad400, invalid),
		upload("content_type null", `{"content_type":null}`, bad400, invalid),
		upload("content_type is a number", `{"content_type":1}`, bad400, invalid),
		upload("content_type is an array", `{"content_type":["image/png"]}`, bad400, invalid),
		upload("content_type is an object", `{"content_type":{"type":"image/png"}}`, bad400, invalid),
		upload("size is a string", `{"content_type":"image/png","size":"10"}`, bad400, invalid),
		upload("size is a float", `{"content_type":"image/png","size":1.5}`, bad400, invalid),
		upload("size in exponent form", `{"content_type":"image/png","size":1e2}`, bad400, invalid),
		upload("size past int64", `{"content_type":"image/png","size":9223372036854775808}`, bad400, invalid),
		upload("size past float64", `{"content_type":"image/png","size":1e400}`, bad400, invalid),
		upload("size is a boolean", `{"content_type":"image/png","size":true}`, bad400, invalid),
		upload("size is an array", `{"content_type":"image/png","size":[10]}`, bad400, invalid),
		upload("unknown field", `{"content_type":"image/png","key":"../../etc/passwd"}`, bad400, invalid),
		upload("client-chosen max_bytes", `{"content_type":"image/png","max_bytes":1e12}`, bad400, invalid),
		upload("content_type in upper case", `{"content_type":"IMAGE/PNG"}`, 415, unsupported),
		upload("content_type with parameters", `{"content_type":"image/png; charset=utf-8"}`, 415, unsupported),
		upload("content_type with trailing space", `{"content_type":"image/png "}`, 415, unsupported),
		upload("content_type with escaped NUL", `{"content_type":"image/png\u0000"}`, 415, unsupported),
		upload("content_type with lone surrogate", `{"content_type":"image/png\ud800"}`, bad400, invalid),
		upload("content_type with RTL override", `{"content_type":"\u202egnp/egami"}`, 415, unsupported),
		upload("content_type svg", `{"content_type":"image/svg+xml"}`, 415, unsupported),
		upload("content_type gif", `{"content_type":"image/gif"}`, 415, unsupported),
		upload("content_type html", `{"content_type":"text/html"}`, 415, unsupported),
		upload("content_type empty", `{"content_type":""}`, 415, unsupported),
		upload("content_type with path traversal", `{"content_type":"../../etc/passwd"}`, 415, unsupported),
		upload("content_type with SQL", `{"content_type":"image/png' OR '1'='1"}`, 415, unsupported),
		upload("content_type of 15000 bytes", sized(`{"content_type":"`, "a", 15000, `"}`), 415, unsupported),
		upload("size zero", `{"content_type":"image/png","size":0}`, 413, tooLarge),
		upload("size negative", `{"content_type":"image/png","size":-1}`, 413, tooLarge),
		upload("size most negative", `{"content_type":"image/png","size":-9223372036854775808}`, 413, tooLarge),
		upload("size past max_bytes", `{"content_type":"image/png","size":1001}`, 413, tooLarge),
		upload("size largest int64", `{"content_type":"image/png","size":9223372036854775807}`, 413, tooLarge),
		upload("size null is no size", `{"content_type":"image/png","size":null}`, 201, ""),
		upload("size at max_bytes", `{"content_type":"image/webp","size":1000}`, 201, ""),
		hostileCase{name: "content_type field in another case", method: http.MethodPost, path: "/v1/avatar/uploads", auth: tokenValid,
			body: `{"Content_Type":"image/png"}`, status: bad400, code: invalid},
		hostileCase{name: "size field spelled with the long s", method: http.MethodPost, path: "/v1/avatar/uploads", auth: tokenValid,
			body: `{"content_type":"image/png","\u017fize":5000}`, status: bad400, code: invalid},
		hostileCase{name: "duplicate content_type", method: http.MethodPost, path: "/v1/avatar/uploads", auth: tokenValid,
			body: `{"content_type":"image/svg+xml","content_type":"image/png"}`, status: bad400, code: invalid},
	)

	// POST /v1/avatar/uploads/{id}/confirm: hostile ids.
	const notFound = "upload_not_found"
	ids := []struct{ name, raw string }{
		{"encoded path traversal", "%2e%2e%2f%2e%2e%2fetc%2fpasswd"},
		{"encoded backslash traversal", "..%5c..%5cwindows%5cwin.ini"},
		{"dot-dot", ".."},
		{"dot", "."},
		{"SQL injection", "1'%20OR%20'1'='1"},
		{"SQL statement", ";DROP%20TABLE%20users;--"},
		{"SQL comment", "aaaaaaaaaaaaaaaaaaaaaaaa--"},
		{"SQL wildcard", "%25"},
		{"26 wildcards", strings.Repeat("_", 26)},
		{"encoded NUL", "aaaaaaaaaaaaaaaaaaaaaaaaa%00"},
		{"raw-looking NUL id", "%00"},
		{"RTL override", "%E2%80%AEaaaaaaaaaaaaaaaaaaaaaaa"},
		{"invalid UTF-8", "%FF%FE"},
		{"overlong '/'", "%C0%AF"},
		{"upper case", strings.Repeat("A", 26)},
		{"25 characters", strings.Repeat("a", 25)},
		{"27 characters", strings.Repeat("a", 27)},
		{"digits outside base32", strings.Repeat("1", 26)},
		{"10000 characters", strings.Repeat("a", 10000)},
		{"unknown well-formed id", strings.Repeat("a", 26)},
		{"JSON", "%7B%22id%22:1%7D"},
		{"template", "$%7Bjndi:ldap:%2F%2Fx%7D"},
	}
	confirm := func(id string) string { return "/v1/avatar/uploads/" + id + "/confirm" }
	for _, id := range ids {
		add(
			hostileCase{name: "id " + id.name, method: http.MethodPost, path: confirm(id.raw), auth: tokenValid, status: 404, code: notFound},
			hostileCase{name: "id " + id.name + ", no session", method: http.MethodPost, path: confirm(id.raw), status: 401, code: "unauthorized"},
		)
	}
	add(
		hostileCase{name: "id with a body", method: http.MethodPost, path: confirm(strings.Repeat("a", 26)), auth: tokenValid,
			body: `{"status":"confirmed","size":1}`, status: 404, code: notFound},
		hostileCase{name: "id with malformed body", method: http.MethodPost, path: confirm(strings.Repeat("a", 26)), auth: tokenValid,
			body: "\xff{[", status: 404, code: notFound},
		hostileCase{name: "confirm with body over 16 KiB", method: http.MethodPost, path: confirm(strings.Repeat("a", 26)), auth: tokenValid,
			body: huge, status: 413, code: "request_too_large"},
		hostileCase{name: "empty id", method: http.MethodPost, path: confirm(""), auth: tokenValid, status: 404, code: notFound},
		// A traversal that spans path segments matches no route at all.
		hostileCase{name: "raw path traversal", method: http.MethodPost, path: confirm("../../etc/passwd"), auth: tokenValid, status: 404, code: "not_found"},
		hostileCase{name: "raw traversal to another route", method: http.MethodPost, path: "/v1/avatar/uploads/../../me", auth: tokenValid, status: 404, code: "not_found"},
		hostileCase{name: "id then extra segments", method: http.MethodPost, path: confirm(strings.Repeat("a", 26)) + "/../../x", auth: tokenValid, status: 404, code: "not_found"},
		hostileCase{name: "confirm, wrong method", method: http.MethodGet, path: confirm(strings.Repeat("a", 26)), auth: tokenValid, status: 405, code: "method_not_allowed"},
		hostileCase{name: "confirm, DELETE", method: http.MethodDelete, path: confirm(strings.Repeat("a", 26)), auth: tokenValid, status: 405, code: "method_not_allowed"},
	)

	// GET /v1/me and the session check every /v1 route shares.
	longToken := "Bearer " + strings.Repeat("a", 5000)
	for _, a := range []struct{ name, header string }{
		{"no Authorization", ""},
		{"empty bearer", "Bearer "},
		{"scheme only", "Bearer"},
		{"Basic scheme", "Basic dXNlcjpwYXNz"},
		{"SQL injection", "Bearer ' OR '1'='1"},
		{"SQL statement", "Bearer ;DROP TABLE users;--"},
		{"path traversal", "Bearer ../../etc/passwd"},
		{"token of 5000 bytes", longToken},
		{"invalid UTF-8", "Bearer \xff\xfe.\xff.\xff"},
		{"NUL", "Bearer a\x00b"},
		{"JSON", `Bearer {"alg":"none"}`},
		{"alg none", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9."},
		{"three empty parts", "Bearer .."},
	} {
		add(hostileCase{name: "Authorization " + a.name, method: http.MethodGet, path: "/v1/me", auth: a.header, status: 401, code: "unauthorized"})
	}
	add(
		hostileCase{name: "hostile query ignored", method: http.MethodGet, path: "/v1/me?id=1'%20OR%20'1'='1&user=../../etc/passwd", auth: tokenValid, status: 200},
		hostileCase{name: "body ignored", method: http.MethodGet, path: "/v1/me", auth: tokenValid, body: "\xff not json", status: 200},
		hostileCase{name: "body over 16 KiB", method: http.MethodGet, path: "/v1/me", auth: tokenValid, body: huge, status: 413, code: "request_too_large"},
		hostileCase{name: "trailing path", method: http.MethodGet, path: "/v1/me/../me", auth: tokenValid, status: 404, code: "not_found"},
		hostileCase{name: "SQL in the path", method: http.MethodGet, path: "/v1/me;DROP%20TABLE%20users", auth: tokenValid, status: 404, code: "not_found"},
		hostileCase{name: "wrong method", method: http.MethodPost, path: "/v1/me", auth: tokenValid, status: 405, code: "method_not_allowed"},
	)

	// GET /healthz and /readyz take no input: hostile input is ignored or
	// answered by the router.
	for _, p := range []struct{ path, status string }{{"/healthz", "ok"}, {"/readyz", "ready"}} {
		add(
			hostileCase{name: "plain", method: http.MethodGet, path: p.path, status: 200},
			hostileCase{name: "hostile query", method: http.MethodGet, path: p.path + "?x=%00&y=../../etc/passwd&z=1'%20OR%201=1", status: 200},
			hostileCase{name: "junk body", method: http.MethodGet, path: p.path, body: "\xff{[", status: 200},
			hostileCase{name: "hostile Authorization", method: http.MethodGet, path: p.path, auth: "Bearer ' OR '1'='1", status: 200},
			hostileCase{name: "body over 16 KiB", method: http.MethodGet, path: p.path, body: huge, status: 413, code: "request_too_large"},
			hostileCase{name: "wrong method", method: http.MethodPost, path: p.path, body: `{}`, status: 405, code: "method_not_allowed"},
			hostileCase{name: "trailing traversal", method: http.MethodGet, path: p.path + "/../v1/me", status: 404, code: "not_found"},
			hostileCase{name: "encoded NUL", method: http.MethodGet, path: p.path + "%00", status: 404, code: "not_found"},
		)
	}

	// Routes that do not exist.
	add(
		hostileCase{name: "traversal out of /v1", method: http.MethodGet, path: "/v1/../../etc/passwd", status: 404, code: "not_found"},
		hostileCase{name: "encoded traversal", method: http.MethodGet, path: "/%2e%2e/%2e%2e/etc/passwd", status: 404, code: "not_found"},
		hostileCase{name: "upper-case route", method: http.MethodGet, path: "/V1/ME", auth: tokenValid, status: 404, code: "not_found"},
		hostileCase{name: "very long path", method: http.MethodGet, path: "/" + strings.Repeat("a/", 5000), status: 404, code: "not_found"},
		hostileCase{name: "GET /v1/session", method: http.MethodGet, path: "/v1/session", status: 405, code: "method_not_allowed"},
		hostileCase{name: "GET /v1/avatar/uploads", method: http.MethodGet, path: "/v1/avatar/uploads", auth: tokenValid, status: 405, code: "method_not_allowed"},
		hostileCase{name: "TRACE /v1/me", method: http.MethodTrace, path: "/v1/me", auth: tokenValid, status: 405, code: "method_not_allowed"},
	)
	return cs
}

func TestHostileInput(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, userID := ta.login(t, "hostile")
	for _, tc := range hostileCases() {
		name := tc.method + " " + tc.path
		if len(name) > 80 {
			name = name[:80] + "…"
		}
		name += ": " + tc.name
		t.Run(name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req := httptest.NewRequest(tc.method, tc.path, body)
			req.Header.Set("Content-Type", "application/json")
			switch tc.auth {
			case "":
			case tokenValid:
				req.Header.Set("Authorization", "Bearer "+token)
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			rec := httptest.NewRecorder()
			ta.e.ServeHTTP(rec, req)

			if rec.Header().Get("X-Request-Id") == "" {
				t.Errorf("no X-Request-Id")
			}
			if rec.Code >= 500 {
				t.Fatalf("got %d %s; never a 5xx", rec.Code, rec.Body)
			}
			var code string
			if rec.Code >= 400 {
				checkEnvelope(t, tc.name, rec)
				var env errorBody
				_ = json.Unmarshal(rec.Body.Bytes(), &env)
				code = env.Error.Code
			} else if !json.Valid(rec.Body.Bytes()) {
				t.Errorf("got %d with a body that is not JSON: %q", rec.Code, rec.Body)
			}
			if rec.Code != tc.status || code != tc.code {
				t.Errorf("got %d %q; want %d %q (body %.200s)", rec.Code, code, tc.status, tc.code, rec.Body)
			}
		})
	}

	// Nothing hostile reached the database as SQL: the user is still there,
	// readable, and the only one named by the token.
	a := ta.do(t, http.MethodGet, "/v1/me", token, "")
	if a.status != 200 || decode[userResponse](t, a).User.ID != userID {
		t.Fatalf("after the hostile requests, GET /v1/me = %d %s", a.status, a.raw)
	}
	if other, _ := ta.login(t, "second"); ta.do(t, http.MethodGet, "/v1/me", other, "").status != 200 {
		t.Fatalf("after the hostile requests, a new login does not work")
	}
	if bytes.Contains(ta.logs.Bytes(), []byte("etc/passwd")) || bytes.Contains(ta.logs.Bytes(), []byte("DROP TABLE")) {
		t.Errorf("hostile input reached the log: %s", ta.logs)
	}
}
