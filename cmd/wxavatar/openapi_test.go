package main

// The contract test: openapi.yaml is checked against what the real program
// answers, so that the description cannot drift from the code.
//
// What is checked (contract_test.go): the document is OpenAPI 3.1.0 and
// valid against the official OpenAPI 3.1 meta-schema (vendored in
// testdata/), every $ref of its paths and components resolves and every
// schema in them compiles. Each request is matched to an operation by the
// path templates, literal segments first; its parameters, security
// requirement (Authorization: Bearer unless security: []) and JSON body
// must match the document, and a request the test sends as invalid must be
// refused. Each answer's status must be listed for its operation (no
// default unless the document has one), every required header must be
// there and every header match its schema, the Content-Type must be listed
// and the JSON body must match its schema, formats (date-time, uri, int64)
// and contentEncoding asserted. An unlisted path or method must answer
// components.responses.NotFound or MethodNotAllowed, and every operation
// must be exercised.
//
// Validation library: github.com/santhosh-tekuri/jsonschema/v6, a complete
// JSON Schema 2020-12 implementation (the dialect of OpenAPI 3.1 schemas:
// type arrays such as [string, "null"], const, additionalProperties: false,
// $ref beside other keywords), with no dependency outside golang.org/x/text.
// The OpenAPI rules around the schemas are a few hundred lines here. It
// replaced github.com/pb33f/libopenapi-validator, whose tree (libopenapi,
// what-changed, arazzo, …) took most of the suite's cold compile time for
// this one test. Both are imported by tests only, so they never reach the
// binary.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/localcos"
	wx "github.com/wxavatar/wxavatar/wechat"
)

// contract is openapi.yaml, loaded and checked, plus what the test has
// exercised of it.
type contract struct {
	t    *testing.T
	base string
	doc  *apiDoc
	// seen holds every "METHOD /path/template status" the server answered,
	// and "(unlisted) status" for the rest.
	seen map[string]bool
}

func loadContract(t *testing.T) *contract {
	t.Helper()
	doc, err := loadAPIDoc("../../openapi.yaml")
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return &contract{t: t, doc: doc, seen: map[string]bool{}}
}

// exchange is one request and what the server must answer to it.
// The contract server's message-push secrets.
const contractPushToken = "contract-push-token-0123456789abcdef"

var contractPushKey = strings.Repeat("A", 43)

type exchange struct {
	method, path, token, body string
	header                    map[string]string
	status                    int    // 0: any status the document lists
	code                      string // the error.code wanted; "" for a 2xx
	// invalid marks a request deliberately outside what the document
	// describes (a bad body, no token, an unlisted route): the document must
	// refuse it too. Every other request must satisfy the document.
	invalid bool
}

func (ex exchange) String() string { return ex.method + " " + ex.path }

// do sends ex to the server and checks the request and the answer against
// the document.
func (k *contract) do(ex exchange) reply {
	t := k.t
	t.Helper()
	newRequest := func() *http.Request {
		req, err := http.NewRequest(ex.method, k.base+ex.path, strings.NewReader(ex.body))
		if err != nil {
			t.Fatal(err)
		}
		if ex.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if ex.token != "" {
			req.Header.Set("Authorization", "Bearer "+ex.token)
		}
		for h, v := range ex.header {
			req.Header.Set(h, v)
		}
		return req
	}
	resp, err := http.DefaultClient.Do(newRequest())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	// Every answer is JSON but the push endpoint's text (openapi.yaml says
	// which; the document check below holds each to its content type).
	if len(raw) > 0 && (isJSON(resp.Header.Get("Content-Type")) || r.status >= 400) && !json.Valid(raw) {
		t.Errorf("%s: answer %d is not JSON: %.200s", ex, r.status, raw)
	}
	if ex.status != 0 && (r.status != ex.status || r.code() != ex.code) {
		t.Errorf("%s: answered %d %q; want %d %q (%.200s)", ex, r.status, r.code(), ex.status, ex.code, raw)
	}
	var env struct {
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(raw, &env)
	if r.status >= 400 && env.RequestID != resp.Header.Get("X-Request-Id") {
		t.Errorf("%s: request_id %q differs from X-Request-Id %q", ex, env.RequestID, resp.Header.Get("X-Request-Id"))
	}

	// The request: inside the document unless deliberately not.
	reqErr := k.doc.checkRequest(newRequest(), []byte(ex.body))
	switch {
	case ex.invalid && reqErr == nil:
		t.Errorf("%s %.60q: openapi.yaml accepts this request, which the test sends as one it must refuse (server answered %d %q)",
			ex, ex.body, r.status, r.code())
	case !ex.invalid && reqErr != nil:
		t.Errorf("%s %.60q: request does not match openapi.yaml:\n%v", ex, ex.body, reqErr)
	}

	// The answer: its status must be listed for the operation, and it
	// must match what is listed; an unlisted route or method must answer
	// components.responses.NotFound or MethodNotAllowed.
	exercised, err := k.doc.checkAnswer(newRequest(), r.status, resp.Header, raw)
	k.seen[exercised] = true
	if err != nil {
		t.Errorf("%s: answer %d does not match openapi.yaml (%s):\n%v\nbody: %.300s", ex, r.status, exercised, err, raw)
	}
	return r
}

// checkCoverage fails for every operation of the document the test never
// exercised.
func (k *contract) checkCoverage() {
	t := k.t
	t.Helper()
	var produced []string
	for p := range k.seen {
		produced = append(produced, p)
	}
	slices.Sort(produced)
	t.Logf("answers checked against openapi.yaml:\n  %s", strings.Join(produced, "\n  "))
	for _, op := range k.doc.operations() {
		route := op.String() + " "
		if !slices.ContainsFunc(produced, func(p string) bool { return strings.HasPrefix(p, route) }) {
			t.Errorf("openapi.yaml describes %s, which the contract test never exercised", op)
		}
	}
}

// TestOpenAPIContract drives the real program through every operation of
// openapi.yaml and as many of their documented answers as a test can
// provoke, and checks each request and answer against the document. Not
// provoked here (each is covered by the handler tests): 410 upload_expired
// (the shortest UPLOAD_TTL is a minute), 500, database_unavailable and
// timeout.
func TestOpenAPIContract(t *testing.T) {
	for _, provider := range testProviders {
		t.Run(provider, func(t *testing.T) { testOpenAPIContract(t, provider) })
	}
}

func testOpenAPIContract(t *testing.T, provider string) {
	const sessionLimit, confirmLimit = 15, 8
	k := loadContract(t) // before the server: a broken document fails at once
	wechat := fakeWeChat(t, testAppID, testAppSecret)
	store := newTestStore(t, provider, localcos.Config{}, nil)
	srv := start(t, []string{"serve", "--env-file", ""}, store.env(serverEnv(wechat.URL, "", "sqlite:"+filepath.Join(t.TempDir(), "contract.db"), map[string]string{
		"UPLOAD_MAX_BYTES":          fmt.Sprint(testMaxBytes),
		"LIMIT_PENDING_UPLOADS":     "3",
		"LIMIT_UPLOADS_PER_MINUTE":  "0", // the pending cap provides the uploads' 429
		"LIMIT_SESSIONS_PER_MINUTE": fmt.Sprint(sessionLimit),
		"LIMIT_CONFIRMS_PER_MINUTE": fmt.Sprint(confirmLimit), // alice makes fewer
		"WECHAT_PUSH_TOKEN":         contractPushToken,
		"WECHAT_PUSH_AES_KEY":       contractPushKey,
	})))
	k.base = srv.api
	oversize := strings.Repeat(" ", 17<<10) // JSON white space: a valid body, over 16 KiB

	// Health.
	k.do(exchange{method: "GET", path: "/healthz", status: 200, header: map[string]string{"X-Request-Id": "contract-test.1"}})
	k.do(exchange{method: "GET", path: "/readyz", status: 200})

	// Logging in. Every counted login comes from 127.0.0.1; there are fewer
	// than sessionLimit of them before the limit is driven on purpose.
	login := func(name string) string {
		t.Helper()
		r := k.do(exchange{method: "POST", path: "/v1/session", body: `{"code":"code-` + name + `"}`, status: 200})
		tok := decodeAs[sessionReply](t, r).Token
		if tok == "" {
			t.Fatalf("login %s: %s", name, r.raw)
		}
		return tok
	}
	alice, bob, carol := login("alice"), login("bob"), login("carol")
	for _, ex := range []exchange{
		{body: `{"code":""}`, status: 400, code: "invalid_request", invalid: true},
		{body: `not json`, status: 400, code: "invalid_request", invalid: true},
		{body: `{"code":"code-x","extra":1}`, status: 400, code: "invalid_request", invalid: true},
		{body: `{"code":"err40029"}`, status: 401, code: "invalid_code"},
		{body: `{"code":"err40226"}`, status: 403, code: "user_restricted"},
		{body: `{"code":"err45011"}`, status: 429, code: "rate_limited"},
		{body: `{"code":"err-1"}`, status: 502, code: "wechat_unavailable"},
		{body: `{"code":"code-zed"}` + oversize, status: 413, code: "request_too_large"},
	} {
		ex.method, ex.path = "POST", "/v1/session"
		k.do(ex)
	}

	// The profile.
	k.do(exchange{method: "GET", path: "/v1/me", token: alice, status: 200}) // avatar_url null
	k.do(exchange{method: "GET", path: "/v1/me", status: 401, code: "unauthorized", invalid: true})
	k.do(exchange{method: "GET", path: "/v1/me", token: alice + "x", status: 401, code: "unauthorized"})
	// wx.request cannot send PATCH: mini programs set the nickname with PUT.
	k.do(exchange{method: "PUT", path: "/v1/me", token: alice, body: `{"nickname":"  小明  "}`, status: 200})
	k.do(exchange{method: "PUT", path: "/v1/me", token: alice, body: `{}`, status: 400, code: "invalid_nickname", invalid: true})
	k.do(exchange{method: "PUT", path: "/v1/me", status: 401, body: `{"nickname":"x"}`, code: "unauthorized", invalid: true})
	k.do(exchange{method: "PATCH", path: "/v1/me", token: alice, body: `{"nickname":"小明"}`, status: 200})
	k.do(exchange{method: "PATCH", path: "/v1/me", token: alice, body: `{"nickname":"   "}`, status: 400, code: "invalid_nickname"})
	k.do(exchange{method: "PATCH", path: "/v1/me", token: alice, body: `{"nickname":12}`, status: 400, code: "invalid_request", invalid: true})
	k.do(exchange{method: "PATCH", path: "/v1/me", token: alice, body: `{"nickname":"x"}` + oversize, status: 413, code: "request_too_large"})
	k.do(exchange{method: "PATCH", path: "/v1/me", token: "garbage", body: `{"nickname":"x"}`, status: 401, code: "unauthorized"})

	// Upload signatures.
	newUpload := func(token, contentType string, size int) signedUpload {
		t.Helper()
		body := fmt.Sprintf(`{"content_type":%q,"size":%d}`, contentType, size)
		if size == 0 {
			body = `{"content_type":"` + contentType + `"}` // no size: no PUT URL in the answer
		}
		r := k.do(exchange{method: "POST", path: "/v1/avatar/uploads", token: token, body: body, status: 201})
		var out struct{ Upload signedUpload }
		if err := json.Unmarshal(r.raw, &out); err != nil || out.Upload.ID == "" {
			t.Fatalf("upload signature: %d %s", r.status, r.raw)
		}
		return out.Upload
	}
	for _, ex := range []exchange{
		{body: `{"content_type":"image/gif"}`, status: 415, code: "unsupported_type", invalid: true},
		{body: `{"size":10}`, status: 400, code: "invalid_request", invalid: true},
		{body: `{"content_type":"image/png","key":"../../etc/passwd"}`, status: 400, code: "invalid_request", invalid: true},
		{body: `{"content_type":"image/png","size":99999999}`, status: 413, code: "too_large"},
		{body: `{"content_type":"image/png"}` + oversize, status: 413, code: "request_too_large"},
		{body: `{"content_type":"image/png"}`, token: "-", status: 401, code: "unauthorized"},
	} {
		ex.method, ex.path = "POST", "/v1/avatar/uploads"
		if ex.token == "" {
			ex.token = bob
		}
		k.do(ex)
	}
	for range 3 {
		newUpload(carol, "image/webp", 1000)
	}
	r := k.do(exchange{method: "POST", path: "/v1/avatar/uploads", token: carol, body: `{"content_type":"image/webp"}`, status: 429, code: "rate_limited"})
	if got := r.header.Get("Retry-After"); got != "600" {
		t.Errorf("pending cap: Retry-After %q; want 600 (UPLOAD_TTL)", got)
	}

	// Confirming.
	confirm := func(token, id string, status int, code string) reply {
		t.Helper()
		return k.do(exchange{method: "POST", path: "/v1/avatar/uploads/" + id + "/confirm", token: token, status: status, code: code})
	}
	png := newUpload(alice, "image/png", 1000)
	confirm(alice, png.ID, 409, "upload_missing")
	if got := postForm(t, png, testImage(t, "png"), nil); got.status != 204 {
		t.Fatalf("POST form upload: %+v", got)
	}
	confirm(bob, png.ID, 404, "upload_not_found")
	confirm(alice, "nosuchuploadnosuchupload23", 404, "upload_not_found")
	confirm(alice, png.ID, 200, "")
	confirm(alice, png.ID, 200, "") // idempotent
	// bob's confirms this minute: one above, then up to the limit.
	for i := 1; i < confirmLimit; i++ {
		confirm(bob, "nosuchuploadnosuchupload23", 404, "upload_not_found")
	}
	confirm(bob, png.ID, 429, "rate_limited")
	k.do(exchange{method: "POST", path: "/v1/avatar/uploads/" + png.ID + "/confirm", status: 401, code: "unauthorized", invalid: true})
	k.do(exchange{method: "POST", path: "/v1/avatar/uploads/" + png.ID + "/confirm", token: alice, body: `{}` + oversize, status: 413, code: "request_too_large"})
	me := k.do(exchange{method: "GET", path: "/v1/me", token: alice, status: 200}) // avatar_url set
	if u := decodeAs[userReply](t, me).User; u.avatarURL() != png.URL || u.Nickname != "小明" {
		t.Errorf("GET /v1/me after confirm: %s", me.raw)
	}

	notImage := newUpload(alice, "image/png", 0)
	if got := postForm(t, notImage, []byte("<html><script>alert(1)</script></html>"), nil); got.status != 204 {
		t.Fatalf("POST form upload: %+v", got)
	}
	confirm(alice, notImage.ID, 422, "upload_rejected")

	jpegBytes := testImage(t, "jpeg")
	jpeg := newUpload(alice, "image/jpeg", len(jpegBytes))
	if got := put(t, jpeg, jpegBytes, ""); got.status != 200 {
		t.Fatalf("PUT upload: %+v", got)
	}

	// Routes and methods the document does not list.
	k.do(exchange{method: "GET", path: "/nope", status: 404, code: "not_found", invalid: true})
	k.do(exchange{method: "PUT", path: "/healthz", status: 405, code: "method_not_allowed", invalid: true})
	k.do(exchange{method: "POST", path: "/v1/me", token: alice, status: 405, code: "method_not_allowed", invalid: true})

	// WeChat's message push: the URL check, then an event in safe mode.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	pushQ := url.Values{"signature": {wx.Sign(contractPushToken, ts, "1514711492")},
		"timestamp": {ts}, "nonce": {"1514711492"}, "echostr": {"echo-1"}}
	k.do(exchange{method: "GET", path: "/wechat/push?" + pushQ.Encode(), status: 200})
	pushQ.Set("signature", strings.Repeat("0", 40))
	k.do(exchange{method: "GET", path: "/wechat/push?" + pushQ.Encode(), status: 403, code: "bad_signature"})
	sealer := wx.Sealer{Token: contractPushToken, EncodingAESKey: contractPushKey, AppID: testAppID, Mode: wx.ModeSafe}
	q, body, err := sealer.Seal([]byte(`{"ToUserName":"gh_1","FromUserName":"x","CreateTime":1714112445,"MsgType":"event","Event":"some_event"}`), ts, "415670741")
	if err != nil {
		t.Fatal(err)
	}
	k.do(exchange{method: "POST", path: "/wechat/push?" + q.Encode(), body: string(body), status: 200})
	q.Set("msg_signature", strings.Repeat("0", 40))
	k.do(exchange{method: "POST", path: "/wechat/push?" + q.Encode(), body: string(body), status: 403, code: "bad_signature"})

	// Erasing a user: 204 with no body, then the token names nobody.
	k.do(exchange{method: "DELETE", path: "/v1/me", token: bob, status: 204})
	k.do(exchange{method: "GET", path: "/v1/me", token: bob, status: 401, code: "unauthorized"})

	// The login limit of this client address.
	limited := false
	for range sessionLimit + 5 {
		r := k.do(exchange{method: "POST", path: "/v1/session", body: `{"code":"err40029"}`})
		if r.status == http.StatusTooManyRequests {
			limited = true
			if r.code() != "rate_limited" || r.header.Get("Retry-After") != strconv.Itoa(60/sessionLimit) {
				t.Errorf("login limit: %q Retry-After %q; want rate_limited %d", r.code(), r.header.Get("Retry-After"), 60/sessionLimit)
			}
			break
		}
	}
	if !limited {
		t.Errorf("LIMIT_SESSIONS_PER_MINUTE=%d never answered 429", sessionLimit)
	}

	// Object storage gone: confirm and readiness say so.
	store.srv.Close()
	began := time.Now()
	confirm(alice, jpeg.ID, 503, "storage_unavailable")
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("confirm with storage down took %v", d)
	}
	// This instance's /readyz answers its last verdict for 5 s; a fresh
	// instance, with nothing checked yet, checks at once.
	down := start(t, []string{"serve", "--env-file", ""}, store.env(serverEnv(wechat.URL, "", "sqlite:"+filepath.Join(t.TempDir(), "down.db"), nil)))
	k.base = down.api
	k.do(exchange{method: "GET", path: "/readyz", status: 503, code: "not_ready"})

	k.checkCoverage()
}
