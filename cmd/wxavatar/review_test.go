package main

// End-to-end tests of the avatar content check: confirm queues the check,
// the reviewer asks WeChat's media_check_async (here the fake WeChat) for
// the avatar's permanent URL, and the verdict comes back as a
// wxa_media_check push to /wechat/push, signed and encrypted in safe mode
// as WeChat sends it.

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/localcos"
	wx "github.com/wxavatar/wxavatar/wechat"
)

// reviewed is the real program against a fake WeChat and a local object
// server, with content security on and the push configured.
type reviewed struct {
	t      *testing.T
	srv    *running
	wechat *wechatFake
	db     *sql.DB // the service's database, read only
	c      client
}

func startReviewed(t *testing.T, extra map[string]string) *reviewed {
	t.Helper()
	wechat := newFakeWeChat(t, testAppID, testAppSecret)
	cosSrv := httptest.NewServer(newTestCOS(t, localcos.Config{}))
	t.Cleanup(cosSrv.Close)
	path := filepath.Join(t.TempDir(), "review.db")
	env := serverEnv(wechat.URL, cosSrv.URL, "sqlite:"+path, extra)
	env["METRICS_ADDR"] = "127.0.0.1:0"
	srv := start(t, []string{"serve", "--env-file", ""}, env)
	// A reader of the service's database, for asked.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &reviewed{t: t, srv: srv, wechat: wechat, db: db, c: client{t: t, base: srv.api}}
}

// newAvatar uploads a PNG and confirms it; it fails the test unless confirm
// answers 200 for that upload.
func (r *reviewed) newAvatar(token string) (up signedUpload, confirmed userJSON) {
	r.t.Helper()
	up = r.c.newUpload(token, "image/png")
	if got := postForm(r.t, up, testImage(r.t, "png"), nil); got.status != 204 {
		r.t.Fatalf("POST form upload: %+v; want 204", got)
	}
	rep := r.c.confirm(token, up.ID)
	if rep.status != 200 {
		r.t.Fatalf("confirm: %d %s; want 200", rep.status, rep.raw)
	}
	cr := decodeAs[confirmReply](r.t, rep)
	if cr.Upload.ID != up.ID || cr.Upload.URL != up.URL || cr.Upload.Status != "confirmed" {
		r.t.Fatalf("confirm answered upload %+v; want %s confirmed at %s", cr.Upload, up.ID, up.URL)
	}
	return up, cr.User
}

// me is the user's profile as GET /v1/me answers it, and the raw answer.
func (r *reviewed) me(token string) (userJSON, []byte) {
	r.t.Helper()
	rep := r.c.call("GET", "/v1/me", token, "")
	if rep.status != 200 {
		r.t.Fatalf("GET /v1/me: %d %s", rep.status, rep.raw)
	}
	return decodeAs[userReply](r.t, rep).User, rep.raw
}

// asked waits for WeChat to be asked to check up's avatar, and for the
// service to have recorded the trace id WeChat answered, which it returns
// with the request. The reviewer is woken by confirm, so the request comes
// within moments.
//
// The service records the trace id only once WeChat's answer is in: a
// verdict pushed in between finds no avatar waiting for it, is acknowledged
// and ignored. The test reads the record itself (uploads.review_state and
// review_trace_id) so that it pushes only once the verdict can land.
func (r *reviewed) asked(up signedUpload, within time.Duration) mediaCheckCall {
	r.t.Helper()
	deadline := time.Now().Add(within)
	var call mediaCheckCall
	for call.TraceID == "" {
		checks, _, bad := r.wechat.checks()
		if len(bad) > 0 {
			r.t.Fatalf("media_check_async requests WeChat would refuse: %q", bad)
		}
		for _, c := range checks {
			if c.URL == up.URL {
				call = c
			}
		}
		if call.TraceID != "" {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("WeChat was not asked to check %s within %v; asked %+v", up.URL, within, checks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		var state, trace sql.NullString
		err := r.db.QueryRow(`SELECT review_state, review_trace_id FROM uploads WHERE id = ?`, up.ID).Scan(&state, &trace)
		if err != nil {
			r.t.Fatalf("reading upload %s's review: %v", up.ID, err)
		}
		if state.String == "waiting" && trace.String == call.TraceID {
			return call
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("upload %s's review is %s, trace id %q, %v after WeChat answered %s; want waiting for it",
				up.ID, state.String, trace.String, within, call.TraceID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mediaCheckPush is the wxa_media_check message WeChat pushes with the
// verdict of a media_check_async v2 request; label is JSON (WeChat has been
// seen to send it as a number and as a string).
func mediaCheckPush(traceID, suggest, label string) string {
	return fmt.Sprintf(`{"ToUserName":"gh_38cc2d5a8a1a","FromUserName":"oUwsuzcGvLU2p9-2crByyrZq2jbk",`+
		`"CreateTime":%d,"MsgType":"event","Event":"wxa_media_check","appid":%q,"trace_id":%q,"version":2,`+
		`"detail":[{"strategy":"content_model","errcode":0,"suggest":%q,"label":%s,"prob":90}],`+
		`"errcode":0,"errmsg":"ok","result":{"suggest":%q,"label":%s}}`,
		time.Now().Unix(), testAppID, traceID, suggest, label, suggest, label)
}

var pushNonce atomic.Int64

// seal is msg as WeChat pushes it in safe mode with a JSON envelope: the
// query (signature, timestamp, nonce, encrypt_type, msg_signature) and the
// body, sealed with the Token and EncodingAESKey serverEnv configures.
func seal(t *testing.T, msg string) (url.Values, []byte) {
	t.Helper()
	sealer := wx.Sealer{Token: contractPushToken, EncodingAESKey: contractPushKey, AppID: testAppID, Mode: wx.ModeSafe}
	q, body, err := sealer.Seal([]byte(msg), strconv.FormatInt(time.Now().Unix(), 10),
		strconv.FormatInt(1514711492+pushNonce.Add(1), 10))
	if err != nil {
		t.Fatal(err)
	}
	return q, body
}

// post delivers a push and returns the answer.
func (r *reviewed) post(q url.Values, body []byte) (int, string) {
	r.t.Helper()
	resp, err := http.Post(r.srv.api+"/wechat/push?"+q.Encode(), "application/json", bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// verdict pushes WeChat's verdict on traceID and fails the test unless it
// is acknowledged: 200 "success".
func (r *reviewed) verdict(traceID, suggest, label string) {
	r.t.Helper()
	q, body := seal(r.t, mediaCheckPush(traceID, suggest, label))
	if status, answer := r.post(q, body); status != 200 || answer != "success" {
		r.t.Fatalf("push %s %s: %d %q; want 200 \"success\"", suggest, traceID, status, answer)
	}
}

// metrics is the metrics listener's counters: series (name{labels}) to value.
func (r *reviewed) metrics() map[string]float64 {
	r.t.Helper()
	status, body := download(r.t, r.srv.metrics+"/metrics")
	if status != 200 {
		r.t.Fatalf("GET /metrics: %d", status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// checkModerationMetrics fails unless the avatar checks counted are want
// (outcome to count; an outcome not in want must be absent or 0).
func (r *reviewed) checkModerationMetrics(want map[string]float64) {
	r.t.Helper()
	m := r.metrics()
	series := func(outcome string) string {
		return `wxavatar_moderation_checks_total{outcome="` + outcome + `",what="avatar"}`
	}
	for _, outcome := range []string{"asked", "pass", "review", "risky", "unavailable", "refused", "timeout", "other"} {
		if got := m[series(outcome)]; got != want[outcome] {
			r.t.Errorf("%s = %v; want %v", series(outcome), got, want[outcome])
		}
	}
}

// thumbOf is the thumbnail's URL beside the avatar at u.
func thumbOf(u string) string { return strings.TrimSuffix(u, "avatar") + "thumb" }

func orNull(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// checkServed fails unless the avatar at u and its thumbnail answer status.
func checkServed(t *testing.T, what, u string, status int) {
	t.Helper()
	for _, obj := range []string{u, thumbOf(u)} {
		if got, _ := download(t, obj); got != status {
			t.Errorf("%s: GET %s = %d; want %d", what, obj, got, status)
		}
	}
}

// checkReview fails unless u's avatar_review is want: nil for null.
func checkReview(t *testing.T, when string, u userJSON, status, uploadID, reason string) {
	t.Helper()
	got := u.AvatarReview
	switch {
	case status == "" && got != nil:
		t.Errorf("%s: avatar_review = %+v; want null", when, *got)
	case status == "":
	case got == nil:
		t.Errorf("%s: avatar_review = null; want {%s %s %s}", when, status, uploadID, reason)
	case got.Status != status || got.UploadID != uploadID || got.Reason != reason:
		t.Errorf("%s: avatar_review = %+v; want {%s %s %s}", when, *got, status, uploadID, reason)
	}
}

// checkAvatarURLs fails unless u shows the avatar at want ("" for none) and
// its thumbnail.
func checkAvatarURLs(t *testing.T, when string, u userJSON, want string) {
	t.Helper()
	if want == "" {
		if u.AvatarURL != nil || u.AvatarThumbURL != nil {
			t.Errorf("%s: avatar_url %s, avatar_thumb_url %s; want both null", when, orNull(u.AvatarURL), orNull(u.AvatarThumbURL))
		}
		return
	}
	if u.avatarURL() != want || orNull(u.AvatarThumbURL) != thumbOf(want) {
		t.Errorf("%s: avatar_url %s, avatar_thumb_url %s; want %s and its thumbnail", when, orNull(u.AvatarURL), orNull(u.AvatarThumbURL), want)
	}
}

// TestAvatarReviewAfter: with AVATAR_REVIEW=after (the default), a new
// avatar shows at once while WeChat checks it; a pass keeps it, a risky
// verdict takes it down, back to the avatar approved before, and deletes its
// objects.
func TestAvatarReviewAfter(t *testing.T) {
	r := startReviewed(t, nil) // AVATAR_REVIEW unset: after
	alice := r.c.login("code-alice")

	first, confirmed := r.newAvatar(alice)
	checkAvatarURLs(t, "confirm of the first avatar", confirmed, first.URL)
	checkReview(t, "confirm of the first avatar", confirmed, avatarReviewPending, first.ID, "")
	ask := r.asked(first, 5*time.Second)
	if ask.URL != confirmed.avatarURL() || ask.OpenID != "openid-alice" {
		t.Errorf("media_check_async asked for %s, openid %s; want the confirmed avatar_url %s and openid-alice", ask.URL, ask.OpenID, confirmed.avatarURL())
	}
	me, _ := r.me(alice)
	checkAvatarURLs(t, "while the first avatar is checked", me, first.URL)
	checkReview(t, "while the first avatar is checked", me, avatarReviewPending, first.ID, "")

	r.verdict(ask.TraceID, "pass", "100")
	me, _ = r.me(alice)
	checkAvatarURLs(t, "after the first avatar passed", me, first.URL)
	checkReview(t, "after the first avatar passed", me, "", "", "")
	checkServed(t, "the first avatar, passed", first.URL, 200)

	second, confirmed := r.newAvatar(alice)
	checkAvatarURLs(t, "confirm of the second avatar", confirmed, second.URL)
	checkReview(t, "confirm of the second avatar", confirmed, avatarReviewPending, second.ID, "")
	ask2 := r.asked(second, 5*time.Second)
	if ask2.OpenID != "openid-alice" || ask2.TraceID == ask.TraceID {
		t.Errorf("second media_check_async: %+v; want openid-alice and a new trace id", ask2)
	}
	checkServed(t, "the second avatar, pending", second.URL, 200)

	r.verdict(ask2.TraceID, "risky", `"20002"`) // label as a string, as WeChat has been seen to send
	me, _ = r.me(alice)
	checkAvatarURLs(t, "after the second avatar was found risky", me, first.URL)
	checkReview(t, "after the second avatar was found risky", me, avatarReviewRejected, second.ID, "risky")
	checkServed(t, "the second avatar, taken down", second.URL, 404)
	checkServed(t, "the first avatar, back", first.URL, 200)

	if checks, failed, _ := r.wechat.checks(); len(checks) != 2 || failed != 0 {
		t.Errorf("media_check_async asked %d times (%d failed): %+v; want once per avatar", len(checks), failed, checks)
	}
	r.checkModerationMetrics(map[string]float64{"asked": 2, "pass": 1, "risky": 1})
}

const (
	avatarReviewPending  = "pending"
	avatarReviewRejected = "rejected"
)

// TestAvatarReviewBefore: with AVATAR_REVIEW=before, a new avatar shows only
// once WeChat passes it; one found risky never shows, and its objects are
// deleted.
func TestAvatarReviewBefore(t *testing.T) {
	r := startReviewed(t, map[string]string{"AVATAR_REVIEW": "before"})
	alice := r.c.login("code-alice")

	first, confirmed := r.newAvatar(alice)
	checkAvatarURLs(t, "confirm of a first avatar held for review", confirmed, "")
	checkReview(t, "confirm of a first avatar held for review", confirmed, avatarReviewPending, first.ID, "")
	ask := r.asked(first, 5*time.Second)
	if ask.OpenID != "openid-alice" {
		t.Errorf("media_check_async for openid %s; want openid-alice", ask.OpenID)
	}
	me, _ := r.me(alice)
	checkAvatarURLs(t, "while the first avatar is held", me, "")
	checkReview(t, "while the first avatar is held", me, avatarReviewPending, first.ID, "")

	r.verdict(ask.TraceID, "pass", "100")
	me, _ = r.me(alice)
	checkAvatarURLs(t, "after the first avatar passed", me, first.URL)
	checkReview(t, "after the first avatar passed", me, "", "", "")
	checkServed(t, "the first avatar, passed", first.URL, 200)

	second, confirmed := r.newAvatar(alice)
	checkAvatarURLs(t, "confirm of a second avatar held for review", confirmed, first.URL)
	checkReview(t, "confirm of a second avatar held for review", confirmed, avatarReviewPending, second.ID, "")
	ask2 := r.asked(second, 5*time.Second)

	r.verdict(ask2.TraceID, "risky", `"20002"`)
	me, _ = r.me(alice)
	checkAvatarURLs(t, "after the second avatar was found risky", me, first.URL)
	checkReview(t, "after the second avatar was found risky", me, avatarReviewRejected, second.ID, "risky")
	checkServed(t, "the second avatar, rejected", second.URL, 404)
	checkServed(t, "the first avatar", first.URL, 200)

	// Sent to human review: not shown where only what passed shows.
	third, _ := r.newAvatar(alice)
	ask3 := r.asked(third, 5*time.Second)
	r.verdict(ask3.TraceID, "review", "100")
	me, _ = r.me(alice)
	checkAvatarURLs(t, "after the third avatar went to human review", me, first.URL)
	checkReview(t, "after the third avatar went to human review", me, avatarReviewRejected, third.ID, "review")
	checkServed(t, "the third avatar, rejected", third.URL, 404)
	checkServed(t, "the first avatar", first.URL, 200)

	r.checkModerationMetrics(map[string]float64{"asked": 3, "pass": 1, "risky": 1, "review": 1})
}

// TestAvatarVerdictPushes: a verdict delivered twice is acknowledged both
// times and acts once; a push with a bad signature is refused; a verdict for
// a trace id nobody waits for, or for an avatar decided already, is
// acknowledged and changes nothing.
func TestAvatarVerdictPushes(t *testing.T) {
	r := startReviewed(t, nil)
	alice := r.c.login("code-alice")
	first, _ := r.newAvatar(alice)
	ask := r.asked(first, 5*time.Second)
	_, pending := r.me(alice)

	unchanged := func(when string, want []byte) {
		t.Helper()
		if _, got := r.me(alice); !bytes.Equal(got, want) {
			t.Errorf("%s: GET /v1/me = %s; want it unchanged: %s", when, got, want)
		}
	}

	pass := mediaCheckPush(ask.TraceID, "pass", "100")
	risky := mediaCheckPush(ask.TraceID, "risky", "20002")

	// A bad signature: refused before anything is read.
	q, body := seal(t, risky)
	q.Set("msg_signature", strings.Repeat("0", 40))
	if status, answer := r.post(q, body); status != 403 || !strings.Contains(answer, `"bad_signature"`) {
		t.Errorf("push with a bad msg_signature: %d %s; want 403 bad_signature", status, answer)
	}
	// Signed with another Token.
	other := wx.Sealer{Token: "another-push-token-0123456789abcdef", EncodingAESKey: contractPushKey, AppID: testAppID, Mode: wx.ModeSafe}
	q, body, err := other.Seal([]byte(risky), strconv.FormatInt(time.Now().Unix(), 10), "77")
	if err != nil {
		t.Fatal(err)
	}
	if status, answer := r.post(q, body); status != 403 || !strings.Contains(answer, `"bad_signature"`) {
		t.Errorf("push signed with another Token: %d %s; want 403 bad_signature", status, answer)
	}
	// Signed, but 11 minutes ago: a captured push sent again later.
	sealer := wx.Sealer{Token: contractPushToken, EncodingAESKey: contractPushKey, AppID: testAppID, Mode: wx.ModeSafe}
	q, body, err = sealer.Seal([]byte(risky), strconv.FormatInt(time.Now().Add(-11*time.Minute).Unix(), 10), "78")
	if err != nil {
		t.Fatal(err)
	}
	if status, answer := r.post(q, body); status != 403 || !strings.Contains(answer, `"bad_signature"`) {
		t.Errorf("push signed 11 minutes ago: %d %s; want 403 bad_signature", status, answer)
	}
	unchanged("after the refused pushes", pending)

	// A verdict that is none (a v1 push saying the image could not be
	// fetched): left to the deadline.
	q, body = seal(t, fmt.Sprintf(`{"ToUserName":"gh_38cc2d5a8a1a","FromUserName":"x","CreateTime":%d,"MsgType":"event",`+
		`"Event":"wxa_media_check","appid":%q,"trace_id":%q,"isrisky":0,"status_code":4294966288,"extra_info_json":""}`,
		time.Now().Unix(), testAppID, ask.TraceID))
	if status, answer := r.post(q, body); status != 200 || answer != "success" {
		t.Errorf("push of a check that failed: %d %q; want 200 \"success\"", status, answer)
	}
	unchanged("after a push without a verdict", pending)

	// A verdict for a trace id nobody waits for.
	r.verdict("trace-unknown", "risky", "20002")
	unchanged("after a verdict for an unknown trace id", pending)

	// The pass, delivered twice.
	q, body = seal(t, pass)
	for i := range 2 {
		if status, answer := r.post(q, body); status != 200 || answer != "success" {
			t.Errorf("pass push, delivery %d: %d %q; want 200 \"success\"", i+1, status, answer)
		}
		if i == 0 {
			me, _ := r.me(alice)
			checkReview(t, "after the pass", me, "", "", "")
			checkAvatarURLs(t, "after the pass", me, first.URL)
		}
	}
	_, passed := r.me(alice)
	unchanged("after the pass delivered again", passed)

	// A contrary verdict for the avatar decided already.
	r.verdict(ask.TraceID, "risky", "20002")
	unchanged("after a risky verdict for an avatar passed already", passed)
	checkServed(t, "the avatar passed", first.URL, 200)

	// A risky verdict delivered twice takes down once.
	second, _ := r.newAvatar(alice)
	ask2 := r.asked(second, 5*time.Second)
	q, body = seal(t, mediaCheckPush(ask2.TraceID, "risky", `"20002"`))
	var takenDown []byte
	for i := range 2 {
		if status, answer := r.post(q, body); status != 200 || answer != "success" {
			t.Errorf("risky push, delivery %d: %d %q; want 200 \"success\"", i+1, status, answer)
		}
		if i == 0 {
			_, takenDown = r.me(alice)
		}
	}
	unchanged("after the risky verdict delivered again", takenDown)
	me, _ := r.me(alice)
	checkAvatarURLs(t, "after the risky verdict", me, first.URL)
	checkReview(t, "after the risky verdict", me, avatarReviewRejected, second.ID, "risky")
	checkServed(t, "the second avatar, taken down", second.URL, 404)
	checkServed(t, "the first avatar", first.URL, 200)

	// Each verdict counted once, whatever was delivered again or ignored.
	r.checkModerationMetrics(map[string]float64{"asked": 2, "pass": 1, "risky": 1})
}

// TestAvatarCheckWeChatDown: a WeChat that cannot take the check when the
// avatar is confirmed fails nothing the user sees; the reviewer asks again
// (after 15 s, on its next 10 s round) once WeChat answers.
func TestAvatarCheckWeChatDown(t *testing.T) {
	if testing.Short() {
		t.Skip("waits some 20 s for the reviewer's retry")
	}
	r := startReviewed(t, nil)
	r.wechat.mediaDown.Store(true)
	alice := r.c.login("code-alice")
	up, confirmed := r.newAvatar(alice)
	checkAvatarURLs(t, "confirm with WeChat down", confirmed, up.URL)
	checkReview(t, "confirm with WeChat down", confirmed, avatarReviewPending, up.ID, "")

	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, failed, _ := r.wechat.checks(); failed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("media_check_async was not tried within 5 s of confirm")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.wechat.mediaDown.Store(false)
	ask := r.asked(up, 30*time.Second)
	if ask.OpenID != "openid-alice" {
		t.Errorf("media_check_async retried for openid %s; want openid-alice", ask.OpenID)
	}
	if _, failed, _ := r.wechat.checks(); failed != 1 {
		t.Errorf("media_check_async failed %d times; want once, then retried after the backoff", failed)
	}
	me, _ := r.me(alice)
	checkReview(t, "while the retried check waits", me, avatarReviewPending, up.ID, "")
	r.verdict(ask.TraceID, "pass", "100")
	me, _ = r.me(alice)
	checkAvatarURLs(t, "after the pass", me, up.URL)
	checkReview(t, "after the pass", me, "", "", "")
	r.checkModerationMetrics(map[string]float64{"unavailable": 1, "asked": 1, "pass": 1})
}

// TestAvatarReviewAfterFirstAvatar: with AVATAR_REVIEW=after, a first
// avatar sent to human review stays; one found risky is taken down to none.
func TestAvatarReviewAfterFirstAvatar(t *testing.T) {
	r := startReviewed(t, map[string]string{"AVATAR_REVIEW": "after"})
	bob := r.c.login("code-bob")
	kept, _ := r.newAvatar(bob)
	ask := r.asked(kept, 5*time.Second)
	if ask.OpenID != "openid-bob" {
		t.Errorf("media_check_async for openid %s; want openid-bob", ask.OpenID)
	}
	r.verdict(ask.TraceID, "review", "100")
	me, _ := r.me(bob)
	checkAvatarURLs(t, "after bob's avatar went to human review", me, kept.URL)
	checkReview(t, "after bob's avatar went to human review", me, "", "", "")
	checkServed(t, "bob's avatar, kept", kept.URL, 200)

	carol := r.c.login("code-carol")
	risky, _ := r.newAvatar(carol)
	ask = r.asked(risky, 5*time.Second)
	r.verdict(ask.TraceID, "risky", "20001")
	me, _ = r.me(carol)
	checkAvatarURLs(t, "after carol's only avatar was found risky", me, "")
	checkReview(t, "after carol's only avatar was found risky", me, avatarReviewRejected, risky.ID, "risky")
	checkServed(t, "carol's avatar, taken down", risky.URL, 404)

	me, _ = r.me(bob)
	checkAvatarURLs(t, "bob, after carol's verdict", me, kept.URL)
	r.checkModerationMetrics(map[string]float64{"asked": 2, "review": 1, "risky": 1})
}
