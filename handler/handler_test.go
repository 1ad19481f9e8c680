package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/auth"
	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/avatar/avatartest"
	"github.com/wxavatar/wxavatar/db"
)

type loginFunc func(ctx context.Context, code string) (auth.Identity, error)

func (f loginFunc) Exchange(ctx context.Context, code string) (auth.Identity, error) {
	return f(ctx, code)
}

// idPattern is the form of the ids the service makes.
var idPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

type testAPI struct {
	e       *echo.Echo
	store   *db.DB
	objects *avatartest.Bucket
	tokens  *auth.Tokens
	logs    *bytes.Buffer
	now     time.Time
}

// newTestAPI serves the API over a real in-memory database and fake object
// storage; mutate, if set, changes the dependencies before they are wired.
func newTestAPI(t testing.TB, mutate func(*Deps, *avatar.Config)) *testAPI {
	t.Helper()
	store, err := db.Open(context.Background(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tokens := newSessionTokens(t)
	ta := &testAPI{store: store, objects: avatartest.NewBucket(), tokens: tokens, logs: &bytes.Buffer{}, now: time.Now()}
	// As cmd wires it: the request id on every line, the domain's too.
	logger := slog.New(LogHandler(slog.NewJSONHandler(ta.logs, nil)))
	now := func() time.Time { return ta.now }
	d := Deps{Logger: logger, Now: now, Login: auth.DevLogin{}, Tokens: tokens, Limiter: store}
	ac := avatar.Config{Records: store, Objects: ta.objects, Logger: logger, Now: now, MaxBytes: 1000, UploadTTL: 10 * time.Minute}
	if mutate != nil {
		mutate(&d, &ac)
	}
	if d.Avatars, err = avatar.New(ac); err != nil {
		t.Fatal(err)
	}
	ta.e, err = New(d)
	if err != nil {
		t.Fatal(err)
	}
	return ta
}

type answer struct {
	status int
	header http.Header
	raw    string
}

// errorBody is the answer's error, zero for an answer that is not one.
func (a answer) errorBody() errorBody {
	var e errorBody
	_ = json.Unmarshal([]byte(a.raw), &e)
	return e
}

func (a answer) code() string { return a.errorBody().Error.Code }

// decode is the answer decoded into T, one of the API's response types. A
// field T does not have fails the test, so the types stay the contract's.
func decode[T any](t *testing.T, a answer) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(a.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer %d %s does not decode into %T: %v", a.status, a.raw, v, err)
	}
	return v
}

// newUploadResponse is the answer to POST /v1/avatar/uploads.
type newUploadResponse struct {
	Upload newUploadJSON `json:"upload"`
}

func (ta *testAPI) do(t *testing.T, method, path, token, body string, header ...string) answer {
	t.Helper()
	rec := serveRaw(ta.e, method, path, token, []byte(body), header...)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, rec.Body.String())
	}
	if a.header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	if e := a.errorBody(); a.status >= 400 && (e.Error.Code == "" || e.RequestID != a.header.Get("X-Request-Id")) {
		t.Errorf("%s %s: error body %s lacks code or request_id", method, path, a.raw)
	}
	return a
}

func (ta *testAPI) login(t *testing.T, name string) (token, userID string) {
	t.Helper()
	a := ta.do(t, "POST", "/v1/session", "", `{"code":"dev-`+name+`"}`)
	if a.status != 200 {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	r := decode[sessionResponse](t, a)
	return r.Token, r.User.ID
}

func TestSessionLogin(t *testing.T) {
	ta := newTestAPI(t, nil)
	a := ta.do(t, "POST", "/v1/session", "", `{"code":"dev-alice"}`)
	if a.status != 200 {
		t.Fatalf("status %d; want 200: %s", a.status, a.raw)
	}
	session := decode[sessionResponse](t, a)
	user := session.User
	if user.AvatarURL != nil || user.Nickname != "" || !idPattern.MatchString(user.ID) {
		t.Errorf("new user = %+v; want empty nickname, null avatar_url, opaque id", user)
	}
	if strings.Contains(a.raw, "openid") {
		t.Errorf("response mentions the openid: %s", a.raw)
	}
	if got := a.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", got)
	}
	// Same code again: same user.
	b := ta.do(t, "POST", "/v1/session", "", `{"code":"dev-alice"}`)
	if decode[sessionResponse](t, b).User.ID != user.ID {
		t.Errorf("second login made another user")
	}
	me := ta.do(t, "GET", "/v1/me", session.Token, "")
	if me.status != 200 || decode[userResponse](t, me).User.ID != user.ID {
		t.Errorf("GET /v1/me = %d %s", me.status, me.raw)
	}
}

func TestSessionErrors(t *testing.T) {
	loginErr := map[string]error{
		"c-invalid": auth.ErrInvalidCode, "c-restricted": auth.ErrUserRestricted,
		"c-limited": auth.ErrRateLimited, "c-down": auth.ErrUnavailable,
	}
	ta := newTestAPI(t, func(d *Deps, a *avatar.Config) {
		d.Login = loginFunc(func(_ context.Context, code string) (auth.Identity, error) {
			if err, ok := loginErr[code]; ok {
				return auth.Identity{}, err
			}
			return auth.Identity{OpenID: "o-" + code}, nil
		})
	})
	tests := []struct {
		body       string
		status     int
		code       string
		retryAfter bool
	}{
		{`{"code":"c-invalid"}`, 401, "invalid_code", false},
		{`{"code":"c-restricted"}`, 403, "user_restricted", false},
		{`{"code":"c-limited"}`, 429, "rate_limited", true},
		{`{"code":"c-down"}`, 502, "wechat_unavailable", false},
		{`{}`, 400, "invalid_request", false},
		{`{"code":""}`, 400, "invalid_request", false},
		{`{"code":null}`, 400, "invalid_request", false},
		{`{"code":"` + strings.Repeat("a", 129) + `"}`, 400, "invalid_request", false},
		{`{"code":"` + strings.Repeat("a", 128) + `"}`, 200, "", false},
		{`{"code":"has space"}`, 400, "invalid_request", false},
		{`{"code":"码"}`, 400, "invalid_request", false},
		{`{"code":"a\u0000b"}`, 400, "invalid_request", false},
		{`{"code":42}`, 400, "invalid_request", false},
		{`{"code":"ok","extra":1}`, 400, "invalid_request", false},
		{`{"code":"ok"} {"code":"ok"}`, 400, "invalid_request", false},
		{`["code"]`, 400, "invalid_request", false},
		{`not json`, 400, "invalid_request", false},
		{``, 400, "invalid_request", false},
		{"{\"code\":\"ok\xff\"}", 400, "invalid_request", false},
		{`{"code":"x","code":"' OR 1=1 --"}`, 400, "invalid_request", false},
		{`{"code":"` + strings.Repeat("a", 17<<10) + `"}`, 413, "request_too_large", false},
	}
	for _, tt := range tests {
		a := ta.do(t, "POST", "/v1/session", "", tt.body)
		if a.status != tt.status || a.code() != tt.code {
			t.Errorf("body %.40q: got %d %q; want %d %q", tt.body, a.status, a.code(), tt.status, tt.code)
		}
		if got := a.header.Get("Retry-After") != ""; got != tt.retryAfter {
			t.Errorf("body %.40q: Retry-After present = %v; want %v", tt.body, got, tt.retryAfter)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, _ := ta.login(t, "bob")
	for _, tok := range []string{"", "garbage", token + "x"} {
		for _, r := range [][2]string{{"GET", "/v1/me"}, {"PATCH", "/v1/me"}, {"POST", "/v1/avatar/uploads"}, {"POST", "/v1/avatar/uploads/abc/confirm"}} {
			a := ta.do(t, r[0], r[1], tok, `{}`)
			if a.status != 401 || a.code() != "unauthorized" || a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with token %.10q: %d %q; want 401 unauthorized with WWW-Authenticate", r[0], r[1], tok, a.status, a.code())
			}
		}
	}
}

func TestRoutingErrors(t *testing.T) {
	ta := newTestAPI(t, nil)
	if a := ta.do(t, "GET", "/nope", "", ""); a.status != 404 || a.code() != "not_found" {
		t.Errorf("unknown route: %d %q", a.status, a.code())
	}
	if a := ta.do(t, "PUT", "/healthz", "", ""); a.status != 405 || a.code() != "method_not_allowed" {
		t.Errorf("wrong method: %d %q", a.status, a.code())
	}
	token, _ := ta.login(t, "ivy")
	if a := ta.do(t, "POST", "/v1/me", token, ""); a.status != 405 || a.code() != "method_not_allowed" {
		t.Errorf("wrong method under /v1: %d %q", a.status, a.code())
	}
	if a := ta.do(t, "GET", "/healthz", "", ""); a.status != 200 || decode[map[string]string](t, a)["status"] != "ok" {
		t.Errorf("healthz: %d %s", a.status, a.raw)
	}
}

// TestUserGone: a valid token whose user no longer exists is refused alike
// on every route that takes a token.
func TestUserGone(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, _, err := ta.tokens.Issue("nosuchusernosuchusernosuch")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/me", ""},
		{"PATCH", "/v1/me", `{"nickname":"ghost"}`},
		{"PUT", "/v1/me", `{"nickname":"ghost"}`},
		{"POST", "/v1/avatar/uploads", `{"content_type":"image/png","size":100}`},
		{"POST", "/v1/avatar/uploads/nosuchuploadnosuchupload23/confirm", ""},
		{"POST", "/v1/avatar/uploads/not-an-id/confirm", ""},
	} {
		if a := ta.do(t, r.method, r.path, token, r.body); a.status != 401 || a.code() != "unauthorized" {
			t.Errorf("%s %s for a user that is gone: %d %q; want 401 unauthorized", r.method, r.path, a.status, a.code())
		}
	}
}

// countingStore counts the database checks /readyz makes.
type countingStore struct {
	avatar.Records
	pings atomic.Int32
}

func (s *countingStore) Ping(ctx context.Context) error {
	s.pings.Add(1)
	return s.Records.Ping(ctx)
}

// TestReadyz: the verdict follows the database and storage, and a flood of
// unauthenticated /readyz makes one database and one storage check per
// readyCheckEvery, not one per request.
func TestReadyz(t *testing.T) {
	var store *countingStore
	ta := newTestAPI(t, func(d *Deps, a *avatar.Config) { store = &countingStore{Records: a.Records}; a.Records = store })
	var storagePings atomic.Int32
	storageDown := atomic.Bool{}
	ta.objects.OnPing = func() error {
		if storagePings.Add(1) == 1 {
			// Slow enough that the other requests arrive while it runs:
			// they must wait for its verdict, not check again.
			time.Sleep(50 * time.Millisecond)
		}
		if storageDown.Load() {
			return avatar.ErrStorageUnavailable
		}
		return nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rec := serveRaw(ta.e, "GET", "/readyz", "", nil); rec.Code != 200 {
				t.Errorf("readyz: %d %s", rec.Code, rec.Body)
			}
		}()
	}
	wg.Wait()
	if store.pings.Load() != 1 || storagePings.Load() != 1 {
		t.Errorf("200 /readyz made %d database and %d storage checks; want 1 and 1", store.pings.Load(), storagePings.Load())
	}
	storageDown.Store(true)
	if a := ta.do(t, "GET", "/readyz", "", ""); a.status != 200 {
		t.Errorf("readyz within %s of a good check: %d; want the cached 200", readyCheckEvery, a.status)
	}
	ta.now = ta.now.Add(readyCheckEvery)
	for i := 0; i < 50; i++ {
		if a := ta.do(t, "GET", "/readyz", "", ""); a.status != 503 || a.code() != "not_ready" {
			t.Fatalf("readyz with storage down: %d %s", a.status, a.raw)
		}
	}
	if store.pings.Load() != 2 || storagePings.Load() != 2 {
		t.Errorf("after %s: %d database and %d storage checks; want 2 and 2", readyCheckEvery, store.pings.Load(), storagePings.Load())
	}
	storageDown.Store(false)
	ta.now = ta.now.Add(readyCheckEvery)
	if a := ta.do(t, "GET", "/readyz", "", ""); a.status != 200 || decode[map[string]string](t, a)["status"] != "ready" {
		t.Errorf("readyz after storage came back: %d %s", a.status, a.raw)
	}
}

func TestRequestID(t *testing.T) {
	ta := newTestAPI(t, nil)
	for in, echoed := range map[string]bool{"abc-123_X.y": true, "bad id": false, strings.Repeat("a", 65): false, "<script>": false} {
		a := ta.do(t, "GET", "/healthz", "", "", "X-Request-Id", in)
		if got := a.header.Get("X-Request-Id") == in; got != echoed {
			t.Errorf("X-Request-Id %q echoed = %v; want %v", in, got, echoed)
		}
	}
}

func TestPatchMe(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, _ := ta.login(t, "carol")
	tests := []struct {
		body   string
		status int
		want   string
	}{
		{`{"nickname":"  小明  "}`, 200, "小明"},
		{`{"nickname":"` + strings.Repeat("名", 32) + `"}`, 200, strings.Repeat("名", 32)},
		{`{"nickname":"` + strings.Repeat("名", 33) + `"}`, 400, ""},
		{`{"nickname":"   "}`, 400, ""},
		{`{}`, 400, ""},
		{`{"nickname":12}`, 400, ""},
		{`{"nickname":"a\u0007b"}`, 400, ""},
	}
	for _, tt := range tests {
		a := ta.do(t, "PATCH", "/v1/me", token, tt.body)
		if a.status != tt.status {
			t.Errorf("PATCH %s: status %d; want %d (%s)", tt.body, a.status, tt.status, a.raw)
			continue
		}
		if tt.status == 200 && decode[userResponse](t, a).User.Nickname != tt.want {
			t.Errorf("PATCH %s: %s; want nickname %q", tt.body, a.raw, tt.want)
		}
		if tt.status == 400 && a.code() != "invalid_nickname" && a.code() != "invalid_request" {
			t.Errorf("PATCH %s: code %q", tt.body, a.code())
		}
	}
	if a := ta.do(t, "PUT", "/v1/me", token, `{"nickname":" 小红 "}`); a.status != 200 || decode[userResponse](t, a).User.Nickname != "小红" {
		t.Errorf("PUT /v1/me (what wx.request can send): %d %s", a.status, a.raw)
	}
	if a := ta.do(t, "PUT", "/v1/me", token, `{"nickname":""}`); a.status != 400 || a.code() != "invalid_nickname" {
		t.Errorf("PUT /v1/me with an empty nickname: %d %q", a.status, a.code())
	}
	if a := ta.do(t, "PATCH", "/v1/me", token, `{"nickname":"a\u200bb"}`); a.code() != "invalid_nickname" {
		t.Errorf("zero-width space: code %q; want invalid_nickname", a.code())
	}
	if a := ta.do(t, "GET", "/v1/me", token, ""); decode[userResponse](t, a).User.Nickname != "小红" {
		t.Errorf("GET /v1/me after PATCH: %s", a.raw)
	}
}

func TestCreateUpload(t *testing.T) {
	ta := newTestAPI(t, func(d *Deps, a *avatar.Config) { a.PendingUploads = 2 })
	token, userID := ta.login(t, "dave")
	a := ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/png","size":999}`)
	if a.status != 201 {
		t.Fatalf("status %d; want 201: %s", a.status, a.raw)
	}
	up := decode[newUploadResponse](t, a).Upload
	id := up.ID
	if want := "uploads/" + userID + "/" + id + ".png"; up.Key != want {
		t.Errorf("key = %v; want %s", up.Key, want)
	}
	// The avatar is a copy under a key no signature names.
	if want := "https://cdn.example.com/avatars/" + userID + "/" + id + "/avatar"; up.URL != want || up.MaxBytes != 1000 {
		t.Errorf("url/max_bytes = %v/%v; want %s/1000", up.URL, up.MaxBytes, want)
	}
	exp, err := time.Parse(time.RFC3339, up.ExpiresAt)
	if err != nil || !exp.Equal(ta.now.Add(10*time.Minute).Truncate(time.Second)) {
		t.Errorf("expires_at = %v; want now+10m", up.ExpiresAt)
	}
	if up.Post.FileField != "file" || up.Post.Form["Content-Type"] != "image/png" {
		t.Errorf("post = %+v", up.Post)
	}
	// The PUT URL pins the declared size; without one there is none.
	if up.Put == nil || up.Put.Headers["Content-Type"] != "image/png" || up.Put.Headers["Content-Length"] != "999" {
		t.Errorf("put = %+v; want headers Content-Type image/png, Content-Length 999 (the declared size, not max_bytes)", up.Put)
	}
	// (TestCreateUploadAnswerForms: without a size there is no put.)
	tests := []struct {
		body   string
		status int
		code   string
	}{
		{`{"content_type":"image/gif"}`, 415, "unsupported_type"},
		{`{"content_type":"IMAGE/PNG"}`, 415, "unsupported_type"},
		{`{"content_type":"image/png","size":1001}`, 413, "too_large"},
		{`{"content_type":"image/png","size":0}`, 413, "too_large"},
		{`{"content_type":"image/png","size":-5}`, 413, "too_large"},
		{`{"content_type":"image/png","size":"12"}`, 400, "invalid_request"},
		{`{"content_type":"image/png","size":1.5}`, 400, "invalid_request"},
		{`{"size":10}`, 400, "invalid_request"},
		{`{"content_type":"image/png","key":"../../etc/passwd"}`, 400, "invalid_request"},
	}
	for _, tt := range tests {
		if a := ta.do(t, "POST", "/v1/avatar/uploads", token, tt.body); a.status != tt.status || a.code() != tt.code {
			t.Errorf("%s: got %d %q; want %d %q", tt.body, a.status, a.code(), tt.status, tt.code)
		}
	}
	// Pending cap 2: the second is allowed, the third refused.
	if a := ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/jpeg"}`); a.status != 201 {
		t.Fatalf("second upload: %d %s", a.status, a.raw)
	}
	a = ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/jpeg"}`)
	if a.status != 429 || a.code() != "rate_limited" || a.header.Get("Retry-After") != "600" {
		t.Errorf("third upload: %d %q Retry-After %q; want 429 rate_limited 600", a.status, a.code(), a.header.Get("Retry-After"))
	}
	// Once they expire, the cap frees up.
	ta.now = ta.now.Add(11 * time.Minute)
	if a := ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/webp"}`); a.status != 201 {
		t.Errorf("after expiry: %d %s", a.status, a.raw)
	}
}

func TestRateLimits(t *testing.T) {
	_, trusted, _ := net.ParseCIDR("10.0.0.0/8")
	ta := newTestAPI(t, func(d *Deps, a *avatar.Config) {
		d.Limits = Limits{UploadsPerMinute: 2, SessionsPerMinute: 2, ConfirmsPerMinute: 3, TrustedProxies: []*net.IPNet{trusted}}
	})
	login := func(remote, xff string) int {
		return ta.do(t, "POST", "/v1/session", "", `{"code":"dev-erin"}`, "X-Test-Remote", remote, "X-Forwarded-For", xff).status
	}
	// Behind the trusted proxy, clients are told apart by X-Forwarded-For.
	for i, want := range []int{200, 200, 429} {
		if got := login("10.1.1.1:5000", "203.0.113.7"); got != want {
			t.Errorf("login %d via proxy: %d; want %d", i, got, want)
		}
	}
	if got := login("10.1.1.1:5000", "203.0.113.8"); got != 200 {
		t.Errorf("other client via proxy: %d; want 200", got)
	}
	// An untrusted peer cannot dodge the limit by forging X-Forwarded-For.
	for i, want := range []int{200, 200, 429} {
		if got := login("198.51.100.1:5000", "203.0.113.99"+string(rune('0'+i))); got != want {
			t.Errorf("login %d from untrusted peer: %d; want %d", i, got, want)
		}
	}
	token, _ := ta.login(t, "frank") // new peer (192.0.2.1 from httptest)
	for i, want := range []int{201, 201, 429} {
		a := ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/png"}`)
		if a.status != want {
			t.Errorf("upload %d: %d; want %d", i, a.status, want)
		}
		if want == 429 && (a.code() != "rate_limited" || a.header.Get("Retry-After") != "30") {
			t.Errorf("upload limit: code %q Retry-After %q; want rate_limited 30", a.code(), a.header.Get("Retry-After"))
		}
	}
	// Each confirm reads and copies in storage: per user, counted whatever
	// the upload, known or not, and before any storage call.
	peeks := 0
	ta.objects.OnPeek = func(string, int) (avatar.ObjectInfo, []byte, error) {
		peeks++
		return avatar.ObjectInfo{}, nil, avatar.ErrObjectNotFound
	}
	ta.now = ta.now.Add(time.Minute) // the upload limit frees up
	up := ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/png"}`)
	if up.status != 201 {
		t.Fatalf("upload: %d %s", up.status, up.raw)
	}
	id := decode[newUploadResponse](t, up).Upload.ID
	otherToken, _ := ta.login(t, "gus")
	for i, want := range []int{409, 409, 404, 429, 429} {
		target := id
		if i == 2 {
			target = "nosuchuploadnosuchupload23"
		}
		a := ta.do(t, "POST", "/v1/avatar/uploads/"+target+"/confirm", token, "")
		if a.status != want {
			t.Errorf("confirm %d: %d %q; want %d", i, a.status, a.code(), want)
		}
		if want == 429 && (a.code() != "rate_limited" || a.header.Get("Retry-After") != "20") {
			t.Errorf("confirm limit: code %q Retry-After %q; want rate_limited 20", a.code(), a.header.Get("Retry-After"))
		}
	}
	if peeks != 2 {
		t.Errorf("%d storage reads; want 2: a refused confirm must not reach storage", peeks)
	}
	if a := ta.do(t, "POST", "/v1/avatar/uploads/"+id+"/confirm", otherToken, ""); a.status != 404 {
		t.Errorf("another user's confirm: %d; want 404 (limits are per user)", a.status)
	}
}

// avatarKeyOf is where confirm writes the avatar of the upload at key:
// uploads/<user>/<id>.<ext> → avatars/<user>/<id>/avatar.
func avatarKeyOf(key string) string {
	rest, _, _ := strings.Cut(strings.TrimPrefix(key, "uploads/"), ".")
	return "avatars/" + rest + "/avatar"
}

// pngHead is a real 64 × 64 PNG (180 bytes: the harness takes 1,000).
var pngHead = avatartest.PNG(64, 64, false)

// TestConfirm walks confirm's outcomes through HTTP, one subtest each, on one
// user and one bucket (avatar's TestConfirm checks the same state machine
// without HTTP).
func TestConfirm(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, userID := ta.login(t, "gina")
	otherToken, _ := ta.login(t, "hank")
	newUpload := func(t *testing.T, ct string) (id, key string) {
		t.Helper()
		a := ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"`+ct+`"}`)
		if a.status != 201 {
			t.Fatalf("create upload: %d %s", a.status, a.raw)
		}
		up := decode[newUploadResponse](t, a).Upload
		return up.ID, up.Key
	}
	confirm := func(t *testing.T, tok, id string) answer {
		t.Helper()
		return ta.do(t, "POST", "/v1/avatar/uploads/"+id+"/confirm", tok, "")
	}
	b := ta.objects

	id, key := newUpload(t, "image/png")
	var first answer       // the 200 of the accepted confirm
	var avatarBytes []byte // what it wrote
	avatarKey := avatarKeyOf(key)
	wantURL := avatartest.PublicURL + avatarKey
	t.Run("before the upload", func(t *testing.T) {
		if a := confirm(t, token, id); a.status != 409 || a.code() != "upload_missing" {
			t.Errorf("before upload: %d %q; want 409 upload_missing", a.status, a.code())
		}
	})
	b.Store(key, "image/png", pngHead)
	t.Run("another user's upload", func(t *testing.T) {
		if a := confirm(t, otherToken, id); a.status != 404 || a.code() != "upload_not_found" {
			t.Errorf("other user's upload: %d %q; want 404 upload_not_found", a.status, a.code())
		}
	})
	t.Run("ids that name no upload", func(t *testing.T) {
		for _, bad := range []string{"nosuchuploadnosuchupload23", "..%2F..%2Fetc", "'%20OR%201=1", strings.Repeat("a", 300)} {
			if a := confirm(t, token, bad); a.status != 404 || a.code() != "upload_not_found" {
				t.Errorf("id %q: %d %q; want 404 upload_not_found", bad, a.status, a.code())
			}
		}
	})
	t.Run("accepted", func(t *testing.T) {
		first = confirm(t, token, id)
		if first.status != 200 {
			t.Fatalf("confirm: %d %s", first.status, first.raw)
		}
		confirmed := decode[confirmResponse](t, first)
		if u := confirmed.User.AvatarURL; u == nil || *u != wantURL {
			t.Errorf("avatar_url = %v; want %s", u, wantURL)
		}
		if u := confirmed.User.AvatarThumbURL; u == nil || *u != strings.TrimSuffix(wantURL, "avatar")+"thumb" {
			t.Errorf("avatar_thumb_url = %v; want the thumbnail beside %s", u, wantURL)
		}
		if up := confirmed.Upload; up.Status != "confirmed" || up.Size != int64(len(pngHead)) || up.ContentType != "image/png" || up.URL != wantURL {
			t.Errorf("upload = %+v", up)
		}
		if bytes.Equal(b.Objects[avatarKey], pngHead) || b.Types[avatarKey] != "image/jpeg" || b.Cache[avatarKey] != "public, max-age=31536000, immutable" {
			t.Errorf("avatar: %d bytes, %q, %q; want the image re-encoded as JPEG, %q", len(b.Objects[avatarKey]), b.Types[avatarKey], b.Cache[avatarKey], "public, max-age=31536000, immutable")
		}
		avatarBytes = b.Objects[avatarKey]
	})
	t.Run("again: the same answer", func(t *testing.T) {
		// Even after the upload key was written again or emptied; the
		// avatar copy is not touched.
		b.Store(key, "image/png", avatartest.PNG(100, 100, false))
		if c := confirm(t, token, id); c.status != 200 || c.raw != first.raw {
			t.Errorf("second confirm: %d %s; want the first answer %s", c.status, c.raw, first.raw)
		}
		delete(b.Objects, key)
		if c := confirm(t, token, id); c.status != 200 || c.raw != first.raw || !bytes.Equal(b.Objects[avatarKey], avatarBytes) {
			t.Errorf("third confirm: %d %s; want the first answer %s and the avatar unchanged", c.status, c.raw, first.raw)
		}
	})
	t.Run("rejected: the object deleted, for good", func(t *testing.T) {
		for _, r := range []struct {
			name, ct, storedType string
			bytes                []byte
			class                string
		}{
			{"text", "image/png", "image/png", []byte("not an image at all, just text"), ""},
			{"PNG bytes labelled JPEG", "image/jpeg", "image/jpeg", pngHead, ""},
			{"stored Content-Type differs", "image/png", "image/jpeg", pngHead, ""},
			{"too large", "image/png", "image/png", append(append([]byte{}, pngHead...), make([]byte, 1000)...), ""},
			{"empty", "image/png", "image/png", []byte{}, ""},
			{"truncated WebP", "image/webp", "image/webp", []byte("RIFF0000WEBPVP"), ""},
			{"not the class signed for", "image/png", "image/png", pngHead, "STANDARD_IA"},
			{"archived: cannot even be read", "image/png", "image/png", pngHead, "ARCHIVE"},
		} {
			t.Run(r.name, func(t *testing.T) {
				id, key := newUpload(t, r.ct)
				b.Store(key, r.storedType, r.bytes)
				b.Class[key] = r.class
				b.Deleted = nil
				if a := confirm(t, token, id); a.status != 422 || a.code() != "upload_rejected" || a.errorBody().Error.Reason == "" {
					t.Errorf("%d %s; want 422 upload_rejected with a reason", a.status, a.raw)
				}
				if len(b.Deleted) != 1 || b.Deleted[0] != key {
					t.Errorf("deleted %v; want [%s]", b.Deleted, key)
				}
				if a := confirm(t, token, id); a.status != 422 {
					t.Errorf("again: %d; want 422", a.status)
				}
			})
		}
		if u := decode[userResponse](t, ta.do(t, "GET", "/v1/me", token, "")).User; u.AvatarURL == nil || *u.AvatarURL != wantURL {
			t.Errorf("rejected uploads changed the avatar: %+v", u)
		}
	})
	t.Run("storage down: 503, nothing recorded, a retry succeeds", func(t *testing.T) {
		id, key := newUpload(t, "image/png")
		b.Store(key, "image/png", pngHead)
		ta.objects.OnPeek = func(string, int) (avatar.ObjectInfo, []byte, error) {
			return avatar.ObjectInfo{}, nil, avatar.ErrStorageUnavailable
		}
		if a := confirm(t, token, id); a.status != 503 || a.code() != "storage_unavailable" {
			t.Errorf("storage down: %d %q; want 503 storage_unavailable", a.status, a.code())
		}
		b.OnPeek, b.OnPut = nil, nil
		if a := confirm(t, token, id); a.status != 200 {
			t.Errorf("retry after storage came back: %d %s", a.status, a.raw)
		}
	})
	t.Run("storage refuses the write: 503, nothing recorded, a retry succeeds", func(t *testing.T) {
		id, key := newUpload(t, "image/png")
		b.Store(key, "image/png", pngHead)
		ta.objects.OnPut = func(string, []byte, avatar.PutSpec) error { return avatar.ErrStorageUnavailable }
		if a := confirm(t, token, id); a.status != 503 || a.code() != "storage_unavailable" {
			t.Errorf("write refused: %d %q; want 503 storage_unavailable", a.status, a.code())
		}
		b.OnPeek, b.OnPut = nil, nil
		if a := confirm(t, token, id); a.status != 200 {
			t.Errorf("retry: %d %s; want 200", a.status, a.raw)
		}
	})
	t.Run("two confirms race while the object is written again", func(t *testing.T) {
		// The one that read the newer bytes may not write their rendition
		// over the avatar the other is recording (409, retry), and once it
		// is recorded, confirming again writes nothing.
		id, key := newUpload(t, "image/png")
		second := avatartest.PNG(90, 90, false)
		b.Store(key, "image/png", pngHead)
		var racing answer
		ta.objects.OnPut = func(dst string, data []byte, spec avatar.PutSpec) error {
			ta.objects.OnPut = nil
			b.Store(key, "image/png", second) // under the still-valid signature
			racing = confirm(t, token, id)
			return ta.objects.Put(context.Background(), dst, data, spec)
		}
		if a := confirm(t, token, id); a.status != 200 || decode[confirmResponse](t, a).Upload.Size != int64(len(pngHead)) {
			t.Fatalf("confirm that claimed the write first: %d %s", a.status, a.raw)
		}
		if racing.status != 409 || racing.code() != "upload_missing" {
			t.Errorf("confirm that read other bytes meanwhile: %d %q; want 409 upload_missing", racing.status, racing.code())
		}
		avatarKey := avatarKeyOf(key)
		written := b.Objects[avatarKey]
		if a := confirm(t, token, id); a.status != 200 || !bytes.Equal(b.Objects[avatarKey], written) {
			t.Errorf("confirm again: %d; want 200 and the avatar as recorded", a.status)
		}
	})
	t.Run("a confirm that loses to a racing rejection deletes its copy", func(t *testing.T) {
		id, key := newUpload(t, "image/png")
		b.Store(key, "image/png", pngHead)
		ta.objects.OnPut = func(dst string, data []byte, spec avatar.PutSpec) error {
			if _, err := ta.store.RejectUpload(context.Background(), userID, id, ta.now); err != nil && !errors.Is(err, avatar.ErrConflict) {
				t.Fatal(err)
			}
			b.Store(dst, spec.ContentType, data)
			return nil
		}
		if a := confirm(t, token, id); a.status != 422 || a.code() != "upload_rejected" {
			t.Errorf("confirm that lost to a rejection: %d %q; want 422 upload_rejected", a.status, a.code())
		}
		for _, lost := range []string{avatarKeyOf(key), strings.TrimSuffix(avatarKeyOf(key), "avatar") + "thumb"} {
			if b.Objects[lost] != nil {
				t.Errorf("the losing confirm's %s was left behind", lost)
			}
		}
		b.OnPeek, b.OnPut = nil, nil
	})
	t.Run("expired with nothing stored", func(t *testing.T) {
		id, _ := newUpload(t, "image/png")
		ta.now = ta.now.Add(11 * time.Minute)
		if a := confirm(t, token, id); a.status != 410 || a.code() != "upload_expired" {
			t.Errorf("expired: %d %q; want 410 upload_expired", a.status, a.code())
		}
	})
}

func TestInternalErrorsAreGeneric(t *testing.T) {
	ta := newTestAPI(t, func(d *Deps, a *avatar.Config) {
		d.Login = loginFunc(func(context.Context, string) (auth.Identity, error) {
			return auth.Identity{}, errors.New("secret-bearing internal failure")
		})
	})
	a := ta.do(t, "POST", "/v1/session", "", `{"code":"x"}`)
	if a.status != 500 || a.code() != "internal_error" || strings.Contains(a.raw, "secret-bearing") {
		t.Errorf("unknown error: %d %s; want a generic 500", a.status, a.raw)
	}
	if !strings.Contains(ta.logs.String(), "secret-bearing internal failure") {
		t.Errorf("the cause of a 500 is not logged")
	}
}

// TestDomainErrorsMapped: each outcome of the avatar service has its status,
// code and, where the contract names one, Retry-After and reason.
func TestDomainErrorsMapped(t *testing.T) {
	for _, tt := range []struct {
		err        error
		status     int
		code       string
		retryAfter int
		reason     string
	}{
		{avatar.ErrBusy, 503, "busy", 1, ""},
		{fmt.Errorf("confirm: %w", avatar.ErrBusy), 503, "busy", 1, ""},
		{&avatar.RejectedError{Reason: avatar.ReasonTooManyPixels, Message: "too big"}, 422, "upload_rejected", 0, "too_many_pixels"},
		{&avatar.RejectedError{Message: "rejected before"}, 422, "upload_rejected", 0, ""},
		{&avatar.PendingLimitError{RetryAfter: 90 * time.Second}, 429, "rate_limited", 90, ""},
		{avatar.ErrUploadMissing, 409, "upload_missing", 0, ""},
		{avatar.ErrUploadExpired, 410, "upload_expired", 0, ""},
		{avatar.ErrUploadNotFound, 404, "upload_not_found", 0, ""},
		{avatar.ErrUserGone, 401, "unauthorized", 0, ""},
		{avatar.ErrStorageUnavailable, 503, "storage_unavailable", 0, ""},
		{avatar.ErrRecordsUnavailable, 503, "database_unavailable", 1, ""},
		{avatar.ErrNicknameRejected, 422, "nickname_rejected", 0, ""},
		{fmt.Errorf("%w: errcode -1", avatar.ErrModerationUnavailable), 503, "moderation_unavailable", 0, ""},
		{avatar.ErrModeratorInactiveUser, 409, "user_inactive", 0, ""},
	} {
		ae := toAPIError(tt.err)
		if ae.status != tt.status || ae.code != tt.code || ae.retryAfter != tt.retryAfter || ae.reason != tt.reason {
			t.Errorf("%v: %d %s retry %d reason %q; want %d %s retry %d reason %q", tt.err,
				ae.status, ae.code, ae.retryAfter, ae.reason, tt.status, tt.code, tt.retryAfter, tt.reason)
		}
	}
}

// TestDeleteMe: 204 with no body, and the token stops working at once.
func TestDeleteMe(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, _ := ta.login(t, "olga")
	if a := ta.do(t, "DELETE", "/v1/me", token, ""); a.status != 204 || a.raw != "" {
		t.Fatalf("DELETE /v1/me: %d %q; want 204 and no body", a.status, a.raw)
	}
	for _, r := range [][2]string{{"GET", "/v1/me"}, {"DELETE", "/v1/me"}, {"PUT", "/v1/me"}} {
		if a := ta.do(t, r[0], r[1], token, `{"nickname":"x"}`); a.status != 401 || a.code() != "unauthorized" {
			t.Errorf("%s %s after the erase: %d %q; want 401 unauthorized", r[0], r[1], a.status, a.code())
		}
	}
	again, _ := ta.login(t, "olga")
	if a := ta.do(t, "GET", "/v1/me", again, ""); a.status != 200 {
		t.Errorf("a new login after the erase: %d; want 200, a new user", a.status)
	}
}
