package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/internal/testutil"
	"github.com/wxavatar/wxavatar/localcos"
)

type running struct {
	api     string // the API's base URL
	metrics string // the metrics listener's base URL, "" when off
	stdout  *testutil.SyncBuffer
	stderr  *testutil.SyncBuffer
	stop    func() error
}

// start runs the real program as run() does, with the environment given,
// and returns once it is built and serving, with the addresses of its
// listeners.
func start(t *testing.T, args []string, env map[string]string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}}
	done := make(chan error, 1)
	getenv := func(k string) string {
		if v, ok := env[k]; ok || k != "METRICS_ADDR" {
			return v
		}
		return "127.0.0.1:0" // not the default port: tests run side by side
	}
	built := make(chan *app, 1)
	go func() { done <- runApp(ctx, args, getenv, r.stdout, r.stderr, func(a *app) { built <- a }) }()
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(20 * time.Second):
				stopErr = errors.New("run did not return after cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("run returned %v on shutdown", err)
		}
	})
	select {
	case a := <-built:
		r.api = "http://" + a.APIAddr.String()
		if a.MetricsAddr != nil {
			r.metrics = "http://" + a.MetricsAddr.String()
		}
	case err := <-done:
		r.stop = func() error { return nil }
		t.Fatalf("run exited early: %v\nstderr: %s", err, r.stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("the app was not built in 10 s\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	// Built means listening and serving: /healthz answers at once.
	resp, err := http.Get(r.api + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: %d", resp.StatusCode)
	}
	return r
}

// fakeWeChat answers code2Session: "code-<name>" logs in as openid-<name>,
// "err<N>" answers errcode N, "notjson" answers HTML.
// fakeAccessToken is the access token the fake WeChat hands out.
const fakeAccessToken = "fake-access-token-0123456789"

// fakeWeChat serves code2Session, stable_token, msg_sec_check and
// media_check_async as WeChat does, for one appid and secret.
func fakeWeChat(t *testing.T, appID, secret string) *httptest.Server {
	t.Helper()
	return newFakeWeChat(t, appID, secret).Server
}

// wechatFake is fakeWeChat with what it was asked of media_check_async, and
// a switch that makes that API fail.
type wechatFake struct {
	*httptest.Server
	// mediaDown makes media_check_async answer errcode -1 (system busy).
	mediaDown atomic.Bool

	mu          sync.Mutex
	mediaChecks []mediaCheckCall // the requests answered with a trace id, in order
	mediaFailed int              // the requests answered -1 while mediaDown
	mediaBad    []string         // the requests WeChat would refuse, and why
}

// mediaCheckCall is one media_check_async request WeChat took.
type mediaCheckCall struct{ URL, OpenID, TraceID string }

// checks is a copy of the media checks asked so far.
func (f *wechatFake) checks() (ok []mediaCheckCall, failed int, bad []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mediaCheckCall(nil), f.mediaChecks...), f.mediaFailed, append([]string(nil), f.mediaBad...)
}

func newFakeWeChat(t *testing.T, appID, secret string) *wechatFake {
	t.Helper()
	f := &wechatFake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch r.URL.Path {
		case "/wxa/media_check_async":
			// Each request taken gets a fresh trace id: trace-1, trace-2…
			var req struct {
				MediaURL  string `json:"media_url"`
				MediaType int    `json:"media_type"`
				Version   int    `json:"version"`
				Scene     int    `json:"scene"`
				OpenID    string `json:"openid"`
			}
			err := json.NewDecoder(r.Body).Decode(&req)
			var bad string
			switch {
			case r.Method != http.MethodPost:
				bad = "method " + r.Method
			case q.Get("access_token") != fakeAccessToken:
				bad = "access_token"
			case err != nil:
				bad = "body not JSON: " + err.Error()
			case req.Version != 2 || req.Scene != 1 || req.MediaType != 2:
				bad = fmt.Sprintf("version %d scene %d media_type %d; want 2, 1, 2", req.Version, req.Scene, req.MediaType)
			case !strings.HasPrefix(req.OpenID, "openid-"):
				bad = "openid " + req.OpenID
			case !strings.HasPrefix(req.MediaURL, "http://") && !strings.HasPrefix(req.MediaURL, "https://"):
				bad = "media_url " + req.MediaURL
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			switch {
			case bad == "access_token":
				f.mediaBad = append(f.mediaBad, bad)
				w.Write([]byte(`{"errcode":40001,"errmsg":"invalid credential"}`))
			case bad != "":
				f.mediaBad = append(f.mediaBad, bad)
				w.Write([]byte(`{"errcode":47001,"errmsg":"data format error"}`))
			case f.mediaDown.Load():
				f.mediaFailed++
				w.Write([]byte(`{"errcode":-1,"errmsg":"system error"}`))
			default:
				trace := fmt.Sprintf("trace-%d", len(f.mediaChecks)+1)
				f.mediaChecks = append(f.mediaChecks, mediaCheckCall{URL: req.MediaURL, OpenID: req.OpenID, TraceID: trace})
				fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","trace_id":%q}`, trace)
			}
			return
		case "/cgi-bin/stable_token":
			var req struct {
				GrantType    string `json:"grant_type"`
				AppID        string `json:"appid"`
				Secret       string `json:"secret"`
				ForceRefresh bool   `json:"force_refresh"`
			}
			if json.NewDecoder(r.Body).Decode(&req) != nil || req.AppID != appID || req.Secret != secret ||
				req.GrantType != "client_credential" || req.ForceRefresh {
				w.Write([]byte(`{"errcode":40013,"errmsg":"invalid appid"}`))
				return
			}
			w.Write([]byte(`{"access_token":"` + fakeAccessToken + `","expires_in":7200}`))
			return
		case "/wxa/msg_sec_check":
			// The verdict is in the nickname: risky, review, wxdown
			// (errcode -1), inactive (61010), slowcheck (no answer for
			// 3 s); anything else passes.
			var req struct {
				Content, OpenID string
				Version, Scene  int
			}
			if q.Get("access_token") != fakeAccessToken || json.NewDecoder(r.Body).Decode(&req) != nil ||
				req.Version != 2 || req.Scene != 1 || !strings.HasPrefix(req.OpenID, "openid-") {
				w.Write([]byte(`{"errcode":40001,"errmsg":"invalid credential"}`))
				return
			}
			suggest := "pass"
			switch {
			case strings.Contains(req.Content, "slowcheck"):
				select {
				case <-time.After(3 * time.Second):
				case <-r.Context().Done():
				}
				return
			case strings.Contains(req.Content, "wxdown"):
				w.Write([]byte(`{"errcode":-1,"errmsg":"system error"}`))
				return
			case strings.Contains(req.Content, "inactive"):
				w.Write([]byte(`{"errcode":61010,"errmsg":"user access expired"}`))
				return
			case strings.Contains(req.Content, "risky"):
				suggest = "risky"
			case strings.Contains(req.Content, "review"):
				suggest = "review"
			}
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","trace_id":"t1","result":{"suggest":%q,"label":100}}`, suggest)
			return
		}
		if r.URL.Path != "/sns/jscode2session" || q.Get("appid") != appID || q.Get("secret") != secret || q.Get("grant_type") != "authorization_code" {
			w.Write([]byte(`{"errcode":40013,"errmsg":"invalid appid"}`))
			return
		}
		code := q.Get("js_code")
		w.Header().Set("Content-Type", "text/plain") // WeChat's answers are not always labelled JSON
		switch {
		case strings.HasPrefix(code, "code-"):
			fmt.Fprintf(w, `{"openid":"openid-%s","session_key":"sessionkey-%s"}`, code[5:], code[5:])
		case strings.HasPrefix(code, "err"):
			fmt.Fprintf(w, `{"errcode":%s,"errmsg":"x"}`, code[3:])
		default:
			w.Write([]byte("<html>502 Bad Gateway</html>"))
		}
	}))
	t.Cleanup(f.Close)
	return f
}

type client struct {
	t    *testing.T
	base string
	// secrets, when set, collects every token and signature the client was
	// handed, for the check that none of them reaches a log.
	secrets *[]string
}

func (c client) remember(s ...string) {
	if c.secrets == nil {
		return
	}
	for _, v := range s {
		if v != "" { // another provider's field: nothing to look for
			*c.secrets = append(*c.secrets, v)
		}
	}
}

type reply struct {
	status int
	header http.Header
	raw    []byte
}

// code is the answer's error code, "" for an answer that is no error.
func (r reply) code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.raw, &e)
	return e.Error.Code
}

// The contract's answers (openapi.yaml), as the tests read them.
type (
	userJSON struct {
		ID             string  `json:"id"`
		Nickname       string  `json:"nickname"`
		AvatarURL      *string `json:"avatar_url"`
		AvatarThumbURL *string `json:"avatar_thumb_url"`
		AvatarReview   *struct {
			Status   string `json:"status"`
			UploadID string `json:"upload_id"`
			Reason   string `json:"reason"`
		} `json:"avatar_review"`
		UpdatedAt string `json:"updated_at"`
	}
	sessionReply struct {
		Token     string   `json:"token"`
		ExpiresAt string   `json:"expires_at"`
		User      userJSON `json:"user"`
	}
	userReply struct {
		User userJSON `json:"user"`
	}
	confirmReply struct {
		User   userJSON `json:"user"`
		Upload struct {
			ID          string `json:"id"`
			Status      string `json:"status"`
			Size        int64  `json:"size"`
			ContentType string `json:"content_type"`
			URL         string `json:"url"`
		} `json:"upload"`
	}
)

// avatarURL is the user's avatar_url, "" for null.
func (u userJSON) avatarURL() string {
	if u.AvatarURL == nil {
		return ""
	}
	return *u.AvatarURL
}

// decodeAs is the answer decoded into T, one of the contract's answers; a
// field T does not have fails the test.
func decodeAs[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer %d %s does not decode into %T: %v", r.status, r.raw, v, err)
	}
	return v
}

func (c client) call(method, path, token, body string) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	r.raw, _ = io.ReadAll(resp.Body)
	if len(r.raw) > 0 && !json.Valid(r.raw) {
		c.t.Fatalf("%s %s: answer is not JSON: %s", method, path, r.raw)
	}
	return r
}

func (c client) login(code string) string {
	c.t.Helper()
	r := c.call("POST", "/v1/session", "", `{"code":"`+code+`"}`)
	if r.status != 200 {
		c.t.Fatalf("login %s: %d %s", code, r.status, r.raw)
	}
	token := decodeAs[sessionReply](c.t, r).Token
	c.remember(token)
	return token
}

type signedUpload struct {
	ID, Key, URL string
	Post         struct {
		URL       string            `json:"url"`
		FileField string            `json:"file_field"`
		Form      map[string]string `json:"form"`
	}
	Put struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
}

// newUpload asks for a signature without declaring a size: a POST form only.
func (c client) newUpload(token, contentType string) signedUpload {
	c.t.Helper()
	return c.signUpload(token, `{"content_type":"`+contentType+`"}`)
}

// newSizedUpload asks for a signature for exactly size bytes: a POST form and
// a PUT URL that takes only that many.
func (c client) newSizedUpload(token, contentType string, size int) signedUpload {
	c.t.Helper()
	return c.signUpload(token, fmt.Sprintf(`{"content_type":%q,"size":%d}`, contentType, size))
}

func (c client) signUpload(token, body string) signedUpload {
	c.t.Helper()
	r := c.call("POST", "/v1/avatar/uploads", token, body)
	if r.status != 201 {
		c.t.Fatalf("upload signature: %d %s", r.status, r.raw)
	}
	var out struct{ Upload signedUpload }
	if err := json.Unmarshal(r.raw, &out); err != nil {
		c.t.Fatal(err)
	}
	// Every provider's signatures and policy, for the check that none is
	// ever logged.
	for _, name := range signatureField {
		c.remember(out.Upload.Post.Form[name])
	}
	c.remember(out.Upload.Post.Form["policy"])
	if u, err := url.Parse(out.Upload.Put.URL); err == nil {
		for _, name := range signatureParam {
			c.remember(u.Query().Get(name))
		}
	}
	return out.Upload
}

func (c client) confirm(token, id string) reply {
	c.t.Helper()
	return c.call("POST", "/v1/avatar/uploads/"+id+"/confirm", token, "")
}

// cosAnswer is what the object server said: status and COS error code.
type cosAnswer struct {
	status int
	code   string
}

func cosReply(t *testing.T, resp *http.Response, err error) cosAnswer {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Code string }
	if resp.StatusCode >= 300 {
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatalf("COS error %d is not XML: %s", resp.StatusCode, body)
		}
	}
	return cosAnswer{resp.StatusCode, e.Code}
}

// postForm uploads data with the signed POST form, as wx.uploadFile does:
// every form field, then the file last.
func postForm(t *testing.T, up signedUpload, data []byte, override map[string]string) cosAnswer {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range up.Post.Form {
		if o, ok := override[k]; ok {
			v = o
		}
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile(up.Post.FileField, "tmp_avatar")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(up.Post.URL, mw.FormDataContentType(), &body)
	return cosReply(t, resp, err)
}

// put uploads data with the presigned PUT URL and the headers it names.
func put(t *testing.T, up signedUpload, data []byte, contentType string) cosAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, up.Put.URL, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range up.Put.Headers {
		req.Header.Set(k, v)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	return cosReply(t, resp, err)
}

func download(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func testImage(t *testing.T, format string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for x := 0; x < 64; x++ {
		for y := 0; y < 64; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 128, 255})
		}
	}
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkAvatar fails unless got is the avatar confirm writes of the image
// uploaded: a JPEG or PNG (as contentType says) of the same size, close in
// every pixel (JPEG is lossy), and not the uploaded bytes.
func checkAvatar(t *testing.T, got []byte, contentType string, uploaded []byte) {
	t.Helper()
	want, _, err := image.Decode(bytes.NewReader(uploaded))
	if err != nil {
		t.Fatal(err)
	}
	img, format, err := image.Decode(bytes.NewReader(got))
	switch {
	case err != nil:
		t.Errorf("the avatar does not decode: %v", err)
		return
	case "image/"+format != contentType || (format != "jpeg" && format != "png"):
		t.Errorf("the avatar is a %s served as %q; want JPEG or PNG, served as such", format, contentType)
	case bytes.Equal(got, uploaded):
		t.Errorf("the avatar is the uploaded file itself; want it re-encoded")
	case img.Bounds().Size() != want.Bounds().Size():
		t.Errorf("the avatar is %v; want the uploaded %v", img.Bounds().Size(), want.Bounds().Size())
		return
	}
	var diff, n uint64
	b := want.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, _ := want.At(x, y).RGBA()
			r2, g2, b2, _ := img.At(x-b.Min.X+img.Bounds().Min.X, y-b.Min.Y+img.Bounds().Min.Y).RGBA()
			for _, d := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}} {
				diff += uint64(max(d[0], d[1])-min(d[0], d[1])) >> 8
				n++
			}
		}
	}
	if mean := float64(diff) / float64(n); mean > 6 {
		t.Errorf("the avatar's pixels differ from the upload's by %.1f on average; want the same picture", mean)
	}
}

// newTestCOS is the local object server standing in for COS, in a folder of
// the test's, accepting the test credentials unless cfg names others.
func newTestCOS(t *testing.T, cfg localcos.Config) *localcos.Server {
	t.Helper()
	cfg.Dir, cfg.Bucket = t.TempDir(), testBucketName
	if cfg.PublicPrefixes == nil {
		cfg.PublicPrefixes = []string{avatar.PublicPrefix} // as the production bucket policy
	}
	if cfg.Credentials == nil {
		cfg.Credentials = func() []localcos.Key {
			return []localcos.Key{{SecretID: testCOSID, SecretKey: testCOSKey}}
		}
	}
	local, err := localcos.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return local
}

// serverEnv is a production configuration against a fake WeChat and a local
// object server, plus extra settings.
func serverEnv(wechatURL, cosURL, databaseURL string, extra map[string]string) map[string]string {
	env := map[string]string{
		"ADDR":            "127.0.0.1:0",
		"DATABASE_URL":    databaseURL,
		"WECHAT_APPID":    testAppID,
		"WECHAT_SECRET":   testAppSecret,
		"WECHAT_API_BASE": wechatURL,
		"JWT_KEYS":        "k1:" + testJWTSecret,
		"COS_BUCKET":      testBucketName,
		"COS_REGION":      "ap-guangzhou",
		"COS_SECRET_ID":   testCOSID,
		"COS_SECRET_KEY":  testCOSKey,
		"COS_BUCKET_URL":  cosURL,
		// Content security is on, and avatar verdicts arrive by push.
		"WECHAT_PUSH_TOKEN":   contractPushToken,
		"WECHAT_PUSH_AES_KEY": contractPushKey,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

const (
	testAppID      = "wxtestappid"
	testAppSecret  = "wxtestappsecret"
	testJWTSecret  = "e2e-jwt-secret-0123456789abcdef0123"
	testCOSID      = "AKIDe2eTestSecretId0000000000000000"
	testCOSKey     = "e2eTestSecretKey00000000000000000"
	testMaxBytes   = 64 << 10
	testBucketName = "avatars-1250000000"
)

// TestEndToEnd runs the production configuration: a fake WeChat, the local
// object server standing in for each storage provider in turn, and the real
// program started by run.
func TestEndToEnd(t *testing.T) {
	for _, provider := range testProviders {
		t.Run(provider, func(t *testing.T) { testEndToEnd(t, provider) })
	}
}

func testEndToEnd(t *testing.T, provider string) {
	wechat := fakeWeChat(t, testAppID, testAppSecret)
	var clockShift atomic.Int64 // lets the test move the object server's clock
	cosLogs := &testutil.SyncBuffer{}
	store := newTestStore(t, provider, localcos.Config{
		Logger: slog.New(slog.NewJSONHandler(cosLogs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return time.Now().Add(time.Duration(clockShift.Load())) },
	}, nil)

	env := store.env(serverEnv(wechat.URL, "", "sqlite:"+filepath.Join(t.TempDir(), "e2e.db"), map[string]string{
		"UPLOAD_MAX_BYTES": fmt.Sprint(testMaxBytes),
		"METRICS_ADDR":     "127.0.0.1:0",
	}))
	srv := start(t, []string{"serve", "--env-file", ""}, env)
	var secrets []string
	c := client{t: t, base: srv.api, secrets: &secrets}

	alice := c.login("code-alice")
	bob := c.login("code-bob")

	t.Run("png by POST form", func(t *testing.T) {
		data := testImage(t, "png")
		up := c.newSizedUpload(alice, "image/png", len(data))
		if got := c.confirm(alice, up.ID); got.status != 409 || got.code() != "upload_missing" {
			t.Errorf("confirm before upload: %d %q; want 409 upload_missing", got.status, got.code())
		}
		if got := postForm(t, up, data, nil); got.status != 204 {
			t.Fatalf("POST form upload: %+v; want 204", got)
		}
		// Nobody can read an upload before confirm has checked it.
		if status, _ := download(t, store.objectURL(up.Key)); status != 403 {
			t.Errorf("anonymous GET of the upload before confirm: %d; want 403", status)
		}
		if got := c.confirm(bob, up.ID); got.status != 404 || got.code() != "upload_not_found" {
			t.Errorf("bob confirms alice's upload: %d %q; want 404 upload_not_found", got.status, got.code())
		}
		r := c.confirm(alice, up.ID)
		if r.status != 200 {
			t.Fatalf("confirm: %d %s", r.status, r.raw)
		}
		// The avatar is re-encoded under a key no signature names.
		wantURL := store.objectURL("avatars/" + strings.TrimSuffix(strings.TrimPrefix(up.Key, "uploads/"), ".png") + "/avatar")
		confirmed := decodeAs[confirmReply](t, r).User
		if got := confirmed.avatarURL(); got != wantURL || up.URL != wantURL {
			t.Errorf("avatar_url = %v, upload url %s; want %s", got, up.URL, wantURL)
		}
		if confirmed.AvatarThumbURL == nil || *confirmed.AvatarThumbURL != strings.TrimSuffix(wantURL, "avatar")+"thumb" {
			t.Errorf("avatar_thumb_url = %v; want the thumbnail beside the avatar", confirmed.AvatarThumbURL)
		} else if status, thumb := download(t, *confirmed.AvatarThumbURL); status != 200 || len(thumb) == 0 {
			t.Errorf("thumbnail download: %d", status)
		}
		if again := c.confirm(alice, up.ID); again.status != 200 || !bytes.Equal(again.raw, r.raw) {
			t.Errorf("second confirm: %d %s; want the same 200", again.status, again.raw)
		}
		resp, err := http.Get(wantURL)
		if err != nil {
			t.Fatal(err)
		}
		avatarBytes, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("download: %d", resp.StatusCode)
		}
		checkAvatar(t, avatarBytes, resp.Header.Get("Content-Type"), data)
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("avatar Cache-Control = %q; want it cached for good (its key is never written again)", cc)
		}
		if status, _ := download(t, store.objectURL(up.Key)); status == 200 {
			t.Errorf("the uploaded file outlived the confirm")
		}

		// The signatures stay valid until they expire, but what they write
		// never reaches the confirmed avatar, by POST form or by PUT.
		other := testImage(t, "png")
		other = append(other[:len(other):len(other)], "trailing bytes"...)
		if got := postForm(t, up, other, nil); got.status != 204 {
			t.Fatalf("upload again with the same form: %+v; want 204", got)
		}
		script := []byte("\x89PNG\r\n\x1a\n<script>")
		script = append(script, make([]byte, len(data)-len(script))...) // the declared size
		if got := put(t, up, script, ""); got.status != 200 {
			t.Fatalf("upload again with the same PUT URL: %+v; want 200", got)
		}
		if again := c.confirm(alice, up.ID); again.status != 200 || !bytes.Equal(again.raw, r.raw) {
			t.Errorf("confirm after uploading again: %d %s; want the first 200", again.status, again.raw)
		}
		if status, got := download(t, wantURL); status != 200 || !bytes.Equal(got, avatarBytes) {
			t.Errorf("avatar after uploading again: %d, %d bytes; want the %d bytes confirm wrote", status, len(got), len(avatarBytes))
		}
	})

	t.Run("jpeg by presigned PUT", func(t *testing.T) {
		data := testImage(t, "jpeg")
		up := c.newSizedUpload(alice, "image/jpeg", len(data))
		if got := put(t, up, data[:len(data)-1], ""); got.status != 403 || got.code != "SignatureDoesNotMatch" {
			t.Errorf("PUT of another size than declared: %+v; want 403 SignatureDoesNotMatch", got)
		}
		if got := put(t, up, data, "image/png"); got.status != 403 || got.code != "SignatureDoesNotMatch" {
			t.Errorf("PUT with another Content-Type: %+v; want 403 SignatureDoesNotMatch", got)
		}
		if got := put(t, up, data, ""); got.status != 200 {
			t.Fatalf("PUT upload: %+v; want 200", got)
		}
		if status, _ := download(t, store.objectURL(up.Key)); status != 403 {
			t.Errorf("anonymous GET of the PUT upload before confirm: %d; want 403", status)
		}
		r := c.confirm(alice, up.ID)
		if r.status != 200 || decodeAs[confirmReply](t, r).Upload.Size != int64(len(data)) {
			t.Fatalf("confirm: %d %s", r.status, r.raw)
		}
		me := c.call("GET", "/v1/me", alice, "")
		avatar := decodeAs[userReply](t, me).User.avatarURL()
		if avatar != up.URL || avatar != store.objectURL("avatars/"+strings.TrimSuffix(strings.TrimPrefix(up.Key, "uploads/"), ".jpg")+"/avatar") {
			t.Errorf("avatar_url = %s; want the JPEG's URL %s", avatar, up.URL)
		}
		if status, got := download(t, avatar); status != 200 {
			t.Errorf("download: %d; want 200", status)
		} else {
			checkAvatar(t, got, "image/jpeg", data)
		}
	})

	t.Run("object server refuses bad uploads", func(t *testing.T) {
		data := testImage(t, "png")
		up := c.newUpload(alice, "image/png")
		sig := up.Post.Form[signatureField[provider]]
		tampered := strings.Repeat("0", len(sig))
		if got := postForm(t, up, data, map[string]string{signatureField[provider]: tampered}); got.status != 403 || got.code != "SignatureDoesNotMatch" {
			t.Errorf("bad signature: %+v; want 403 SignatureDoesNotMatch", got)
		}
		if got := postForm(t, up, data, map[string]string{"Content-Type": "text/html"}); got.status != 403 || got.code != "AccessDenied" {
			t.Errorf("wrong Content-Type: %+v; want 403 AccessDenied", got)
		}
		if got := postForm(t, up, data, map[string]string{"key": "avatars/someone-else/x.png"}); got.status != 403 || got.code != "AccessDenied" {
			t.Errorf("other key: %+v; want 403 AccessDenied", got)
		}
		if got := postForm(t, up, make([]byte, testMaxBytes+1), nil); got.status != 400 || got.code != "EntityTooLarge" {
			t.Errorf("oversize: %+v; want 400 EntityTooLarge", got)
		}
		clockShift.Store(int64(11 * time.Minute))
		got := postForm(t, up, data, nil)
		clockShift.Store(0)
		if got.status != 403 || got.code != "AccessDenied" {
			t.Errorf("expired policy: %+v; want 403 AccessDenied", got)
		}
		// Nothing got through: confirm still finds nothing.
		if r := c.confirm(alice, up.ID); r.status != 409 {
			t.Errorf("confirm after refused uploads: %d %s; want 409", r.status, r.raw)
		}
	})

	t.Run("non-image bytes are rejected and deleted", func(t *testing.T) {
		up := c.newUpload(alice, "image/png")
		if got := postForm(t, up, []byte("<html><script>alert(1)</script></html>"), nil); got.status != 204 {
			t.Fatalf("upload: %+v", got)
		}
		if r := c.confirm(alice, up.ID); r.status != 422 || r.code() != "upload_rejected" {
			t.Errorf("confirm: %d %q; want 422 upload_rejected", r.status, r.code())
		}
		if status, _ := download(t, store.objectURL(up.Key)); status != 404 {
			t.Errorf("rejected object still served: %d; want 404", status)
		}
	})

	t.Run("nickname content security", func(t *testing.T) {
		// The fake WeChat's verdict is in the nickname.
		for _, tt := range []struct {
			nickname string
			status   int
			code     string
		}{
			{"risky words", 422, "nickname_rejected"},
			{"review me", 422, "nickname_rejected"}, // NICKNAME_REVIEW=reject by default
			{"wxdown", 503, "moderation_unavailable"},
			{"inactive", 409, "user_inactive"},
		} {
			if r := c.call("PUT", "/v1/me", bob, `{"nickname":"`+tt.nickname+`"}`); r.status != tt.status || r.code() != tt.code {
				t.Errorf("nickname %q: %d %q; want %d %s", tt.nickname, r.status, r.code(), tt.status, tt.code)
			}
		}
		if u := decodeAs[userReply](t, c.call("GET", "/v1/me", bob, "")).User; u.Nickname != "" {
			t.Errorf("a refused nickname was saved: %q", u.Nickname)
		}
		if r := c.call("PUT", "/v1/me", bob, `{"nickname":"小明"}`); r.status != 200 || decodeAs[userReply](t, r).User.Nickname != "小明" {
			t.Errorf("a nickname WeChat passes: %d %s", r.status, r.raw)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		now := time.Now()
		claims := jwt.MapClaims{"iss": "wxavatar", "aud": "wxavatar-miniprogram", "sub": "x", "iat": now.Add(-3 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}
		expired := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		expired.Header["kid"] = "k1"
		expiredTok, _ := expired.SignedString([]byte(testJWTSecret))
		claims["exp"] = now.Add(time.Hour).Unix()
		none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
		none.Header["kid"] = "k1"
		noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
		parts := strings.Split(alice, ".")
		tampered := parts[0] + "." + parts[1] + "x." + parts[2]
		for name, tok := range map[string]string{"expired": expiredTok, "alg none": noneTok, "tampered": tampered, "missing": ""} {
			if r := c.call("GET", "/v1/me", tok, ""); r.status != 401 || r.code() != "unauthorized" {
				t.Errorf("%s token: %d %q; want 401 unauthorized", name, r.status, r.code())
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		if !strings.Contains(srv.stdout.String(), "metrics on "+srv.metrics+"/metrics") {
			t.Errorf("the metrics listener is not announced: %s", srv.stdout)
		}
		status, body := download(t, srv.metrics+"/metrics")
		if status != 200 {
			t.Fatalf("GET /metrics on METRICS_ADDR: %d", status)
		}
		for _, want := range []string{
			`wxavatar_upstream_requests_total{outcome="ok",upstream="wechat"}`,
			`wxavatar_upstream_requests_total{outcome="ok",upstream="` + provider + `"}`,
			`wxavatar_uploads_total{event="confirmed"} 2`,
			`wxavatar_http_requests_total{method="POST",route="/v1/avatar/uploads/:id/confirm",status="200"}`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if status, _ := download(t, srv.api+"/metrics"); status != 404 {
			t.Errorf("/metrics on the API listener with METRICS_ADDR set: %d; want 404", status)
		}
	})

	t.Run("header cap", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.api+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("a", 40<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("40 KiB of headers: %d; want 431", resp.StatusCode)
		}
	})

	t.Run("wechat errcodes", func(t *testing.T) {
		for code, want := range map[string]struct {
			status int
			code   string
		}{
			"err40029": {401, "invalid_code"}, "err40163": {401, "invalid_code"}, "err40226": {403, "user_restricted"},
			"err45011": {429, "rate_limited"}, "err-1": {502, "wechat_unavailable"}, "err40013": {502, "wechat_unavailable"},
			"notjson": {502, "wechat_unavailable"},
		} {
			r := c.call("POST", "/v1/session", "", `{"code":"`+code+`"}`)
			if r.status != want.status || r.code() != want.code {
				t.Errorf("code %s: %d %q; want %d %q", code, r.status, r.code(), want.status, want.code)
			}
		}
	})

	if err := srv.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	// Privacy: every line the service and the object server logged during
	// the whole flow, and not one openid, session_key, token, key or
	// signature in any of them.
	logs := srv.stderr.String() + srv.stdout.String() + cosLogs.String()
	if n := strings.Count(logs, "\n"); n < 30 {
		t.Fatalf("only %d log lines captured; the check below would prove nothing", n)
	}
	for _, line := range strings.Split(srv.stderr.String(), "\n") {
		if strings.Count(line, `"request_id"`) > 1 {
			t.Errorf("log line names its request twice: %s", line)
			break
		}
	}
	if len(secrets) < 10 {
		t.Fatalf("only %d tokens and signatures collected", len(secrets))
	}
	secrets = append(secrets, "openid-alice", "openid-bob", "sessionkey-alice", "sessionkey-bob",
		testAppSecret, testJWTSecret, testCOSKey)
	for _, secret := range secrets {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("log output contains %.12q…", secret)
		}
	}
}

// TestPprofKeepsHeapSampling: with PPROF_ADDR set, heap profiles can be
// fetched, so allocation sampling stays on (TestDevQuickStart checks that it
// stops without).
func TestPprofKeepsHeapSampling(t *testing.T) {
	rate := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = rate })
	runtime.MemProfileRate = 512 << 10
	dir := t.TempDir()
	start(t, []string{"serve", "--dev", "--env-file", ""}, map[string]string{
		"ADDR": "127.0.0.1:0", "DEV_STORAGE_ADDR": "127.0.0.1:0", "PPROF_ADDR": "127.0.0.1:0",
		"DATABASE_URL": "sqlite:" + filepath.Join(dir, "dev.db"), "DEV_STORAGE_DIR": filepath.Join(dir, "objects"),
	})
	if runtime.MemProfileRate != 512<<10 {
		t.Errorf("runtime.MemProfileRate = %d with PPROF_ADDR; want it left at %d", runtime.MemProfileRate, 512<<10)
	}
}

// TestDevQuickStart follows the README: `serve --dev`, log in as dev-<name>,
// upload with the POST form, confirm, download.
func TestDevQuickStart(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, []string{"serve", "--dev", "--env-file", ""}, map[string]string{
		"ADDR": "127.0.0.1:0", "DEV_STORAGE_ADDR": "127.0.0.1:0",
		"DATABASE_URL": "sqlite:" + filepath.Join(dir, "dev.db"), "DEV_STORAGE_DIR": filepath.Join(dir, "objects"),
	})
	if !strings.Contains(srv.stdout.String(), "NOT FOR PRODUCTION") {
		t.Errorf("--dev start does not warn: %s", srv.stdout)
	}
	// go run ./bench reads this line (bench/wxavatar.go, objectsLineRE).
	if !regexp.MustCompile(`(?m)^wxavatar: local object server on http://127\.0\.0\.1:\d+ \(cos, bucket wxavatar-1250000000\)$`).MatchString(srv.stdout.String()) {
		t.Errorf("--dev does not say where its object server is as the bench reads it: %s", srv.stdout)
	}
	if runtime.MemProfileRate != 0 {
		t.Errorf("runtime.MemProfileRate = %d without PPROF_ADDR; want 0: no heap profile can be fetched", runtime.MemProfileRate)
	}
	c := client{t: t, base: srv.api}
	if r := c.call("POST", "/v1/session", "", `{"code":"realcode"}`); r.status != 401 || r.code() != "invalid_code" {
		t.Errorf("non-dev code in --dev: %d %q; want 401 invalid_code", r.status, r.code())
	}
	token := c.login("dev-alice")
	data := testImage(t, "png")
	up := c.newUpload(token, "image/png")
	if u, _ := url.Parse(up.Post.URL); u == nil || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Errorf("dev POST URL %s is not the local object server", up.Post.URL)
	}
	if got := postForm(t, up, data, nil); got.status != 204 {
		t.Fatalf("POST form upload: %+v", got)
	}
	r := c.confirm(token, up.ID)
	if r.status != 200 {
		t.Fatalf("confirm: %d %s", r.status, r.raw)
	}
	status, got := download(t, decodeAs[confirmReply](t, r).User.avatarURL())
	if status != 200 {
		t.Errorf("download: %d; want 200", status)
	} else {
		checkAvatar(t, got, "image/jpeg", data)
	}
	if r := c.call("GET", "/readyz", "", ""); r.status != 200 {
		t.Errorf("readyz: %d %s", r.status, r.raw)
	}
	// Metrics have a loopback listener of their own; the API never serves them.
	if status, _ := download(t, srv.api+"/metrics"); status != 404 {
		t.Errorf("/metrics on the API listener: %d; want 404", status)
	}
	if status, body := download(t, srv.metrics+"/metrics"); status != 200 || !strings.Contains(string(body), `wxavatar_uploads_total{event="issued"} 1`) {
		t.Errorf("/metrics on its own listener: %d; want 200 with the upload counted", status)
	}
	// What wx.login gives in WeChat DevTools logs in as one stable user.
	first := c.call("POST", "/v1/session", "", `{"code":"0c3Xa8000Ow1sT1bqA300y0wnS2Xa80x"}`)
	again := c.call("POST", "/v1/session", "", `{"code":"0b1Yz9000Pq2rS3tuB400z1xoT3Yb91y"}`)
	if first.status != 200 || again.status != 200 || decodeAs[sessionReply](t, first).User.ID != decodeAs[sessionReply](t, again).User.ID {
		t.Errorf("DevTools codes in --dev: %d %s, %d %s; want 200 and the same user twice", first.status, first.raw, again.status, again.raw)
	}
}

// TestFailedStartClosesListeners: when the API cannot listen, the listeners
// opened before it (the local object server, metrics) are closed, not left
// serving in a process that reports it did not start.
func TestFailedStartClosesListeners(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	freePort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	storageAddr, metricsAddr := freePort(), freePort()
	dir := t.TempDir()
	env := map[string]string{
		"ADDR": taken.Addr().String(), "DEV_STORAGE_ADDR": storageAddr, "METRICS_ADDR": metricsAddr,
		"DATABASE_URL": "sqlite:" + filepath.Join(dir, "dev.db"), "DEV_STORAGE_DIR": filepath.Join(dir, "objects"),
	}
	var stdout, stderr testutil.SyncBuffer
	err = run(context.Background(), []string{"serve", "--dev", "--env-file", ""}, func(k string) string { return env[k] }, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "listen on ADDR") {
		t.Fatalf("run = %v; want the ADDR listen error", err)
	}
	for _, addr := range []string{storageAddr, metricsAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still taken after the failed start: %v", addr, err)
			continue
		}
		ln.Close()
	}
}

// TestDevWithRealWeChat: --dev with WECHAT_APPID and WECHAT_SECRET logs in
// through WeChat (here a fake on loopback) and keeps everything else local.
func TestDevWithRealWeChat(t *testing.T) {
	wechat := fakeWeChat(t, testAppID, testAppSecret)
	dir := t.TempDir()
	srv := start(t, []string{"serve", "--dev", "--env-file", ""}, map[string]string{
		"ADDR": "127.0.0.1:0", "DEV_STORAGE_ADDR": "127.0.0.1:0",
		"DATABASE_URL": "sqlite:" + filepath.Join(dir, "dev.db"), "DEV_STORAGE_DIR": filepath.Join(dir, "objects"),
		"WECHAT_APPID": testAppID, "WECHAT_SECRET": testAppSecret, "WECHAT_API_BASE": wechat.URL,
	})
	if !strings.Contains(srv.stdout.String(), "real WeChat login") {
		t.Errorf("--dev with WeChat credentials does not say it logs in through WeChat: %s", srv.stdout)
	}
	c := client{t: t, base: srv.api}
	token := c.login("code-alice") // a code only the fake WeChat knows
	if r := c.call("POST", "/v1/session", "", `{"code":"err40029"}`); r.status != 401 || r.code() != "invalid_code" {
		t.Errorf("a code WeChat refuses: %d %q; want 401 invalid_code", r.status, r.code())
	}
	up := c.newUpload(token, "image/png")
	if u, _ := url.Parse(up.Post.URL); u == nil || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Errorf("POST URL %s is not the local object server", up.Post.URL)
	}
}
