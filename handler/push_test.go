package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/wechat"
)

const (
	testPushAppID = "wxpushtestapp"
	testPushToken = "AAAAA"
)

var testPushKey = strings.Repeat("A", 43)

func testPush(t testing.TB) *wechat.Push {
	t.Helper()
	p, err := wechat.NewPush(testPushAppID, wechat.PushSecrets{Token: testPushToken, EncodingAESKey: testPushKey})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withPush serves /wechat/push.
func withPush(t testing.TB) func(*Deps, *avatar.Config) {
	return func(d *Deps, _ *avatar.Config) { d.Push = testPush(t) }
}

// push sends msg as WeChat would, sealed by s, and returns the answer.
func (ta *testAPI) push(t *testing.T, s wechat.Sealer, msg string) *httptest.ResponseRecorder {
	t.Helper()
	q, body, err := s.Seal([]byte(msg), strconv.FormatInt(ta.now.Unix(), 10), "415670741")
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/wechat/push?"+q.Encode(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	ta.e.ServeHTTP(rec, req)
	return rec
}

// TestPushCheck: the console's URL check echoes echostr for our Token only.
func TestPushCheck(t *testing.T) {
	ta := newTestAPI(t, withPush(t))
	sig := wechat.Sign(testPushToken, "1714036504", "1514711492")
	for _, tt := range []struct {
		signature string
		status    int
		body      string
	}{
		{sig, 200, "hello-echo"},
		{strings.Repeat("0", 40), 403, ""},
		{"", 403, ""},
	} {
		rec := serveRaw(ta.e, "GET", "/wechat/push?signature="+tt.signature+"&timestamp=1714036504&nonce=1514711492&echostr=hello-echo", "", nil)
		if rec.Code != tt.status || (tt.body != "" && rec.Body.String() != tt.body) {
			t.Errorf("signature %q: %d %q; want %d %q", tt.signature, rec.Code, rec.Body, tt.status, tt.body)
		}
	}
}

// TestPushEvents: revocation and cancellation pushes act on the user they
// name, in every mode; duplicates change nothing; a bad signature or
// another AppID changes nothing and is refused; unknown events are
// acknowledged.
func TestPushEvents(t *testing.T) {
	ctx := context.Background()
	ta := newTestAPI(t, withPush(t))
	token, userID := ta.login(t, "pam")
	if a := ta.do(t, "PUT", "/v1/me", token, `{"nickname":"Pam"}`); a.status != 200 {
		t.Fatal(a.raw)
	}
	// dev login: the openid is "dev-openid-<name>".
	revoke := `{"ToUserName":"gh_1","FromUserName":"x","CreateTime":1714112445,"MsgType":"event",` +
		`"Event":"user_authorization_revoke","OpenID":"dev-openid-pam","AppID":"` + testPushAppID + `","RevokeInfo":"19"}`
	safe := wechat.Sealer{Token: testPushToken, EncodingAESKey: testPushKey, AppID: testPushAppID, Mode: wechat.ModeSafe}

	t.Run("a bad signature changes nothing", func(t *testing.T) {
		forged := safe
		forged.Token = "not-the-token"
		if rec := ta.push(t, forged, revoke); rec.Code != 403 {
			t.Errorf("forged push: %d %s; want 403", rec.Code, rec.Body)
		}
		other := safe
		other.AppID = "wxsomeoneelse"
		if rec := ta.push(t, other, revoke); rec.Code != 403 {
			t.Errorf("push for another AppID: %d %s; want 403", rec.Code, rec.Body)
		}
		if u, _ := ta.store.UserByID(ctx, userID); u.Nickname != "Pam" {
			t.Errorf("nickname %q after refused pushes; want Pam", u.Nickname)
		}
	})
	t.Run("a revoked nickname is cleared, twice harmlessly", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if rec := ta.push(t, safe, revoke); rec.Code != 200 || rec.Body.String() != "success" {
				t.Fatalf("revoke push %d: %d %s", i, rec.Code, rec.Body)
			}
		}
		if u, _ := ta.store.UserByID(ctx, userID); u.Nickname != "" {
			t.Errorf("nickname %q after the revocation; want none", u.Nickname)
		}
	})
	t.Run("a push from long ago is refused, however well signed", func(t *testing.T) {
		hourAgo := strconv.FormatInt(ta.now.Add(-time.Hour).Unix(), 10)
		q, body, err := safe.Seal([]byte(revoke), hourAgo, "1")
		if err != nil {
			t.Fatal(err)
		}
		rec := serveRaw(ta.e, "POST", "/wechat/push?"+q.Encode(), "", body)
		if rec.Code != 403 {
			t.Errorf("an hour-old push: %d %s; want 403", rec.Code, rec.Body)
		}
	})
	t.Run("unknown events are acknowledged", func(t *testing.T) {
		plain := wechat.Sealer{Token: testPushToken, EncodingAESKey: testPushKey, AppID: testPushAppID, Mode: wechat.ModeCompatible}
		msg := `{"ToUserName":"gh_1","FromUserName":"x","CreateTime":1,"MsgType":"event","Event":"some_future_event"}`
		if rec := ta.push(t, plain, msg); rec.Code != 200 || rec.Body.String() != "success" {
			t.Errorf("unknown event: %d %s; want 200 success", rec.Code, rec.Body)
		}
	})
	t.Run("a cancelled account is erased", func(t *testing.T) {
		cancel := strings.Replace(revoke, "user_authorization_revoke", "user_authorization_cancellation", 1)
		for i := 0; i < 2; i++ {
			if rec := ta.push(t, safe, cancel); rec.Code != 200 || rec.Body.String() != "success" {
				t.Fatalf("cancellation push %d: %d %s", i, rec.Code, rec.Body)
			}
		}
		if a := ta.do(t, "GET", "/v1/me", token, ""); a.status != 401 {
			t.Errorf("the cancelled user's token: %d; want 401", a.status)
		}
	})
	t.Run("a well-signed push that does not open is 400", func(t *testing.T) {
		ts, encrypt := strconv.FormatInt(ta.now.Unix(), 10), "bm90IGFuIGVudmVsb3Bl" // base64, not AES
		q := "signature=" + wechat.Sign(testPushToken, ts, "2") + "&timestamp=" + ts + "&nonce=2&encrypt_type=aes" +
			"&msg_signature=" + wechat.Sign(testPushToken, ts, "2", encrypt)
		rec := serveRaw(ta.e, "POST", "/wechat/push?"+q, "", []byte(`{"Encrypt":"`+encrypt+`"}`))
		if rec.Code != 400 {
			t.Errorf("malformed push: %d %s; want 400", rec.Code, rec.Body)
		}
	})
}

// TestPushAvatarVerdicts: a wxa_media_check push, in JSON or XML, with its
// label as a number or a string, applies the verdict to the avatar its
// trace id names; a repeat, or a verdict for no trace, changes nothing; a
// revocation from a plugin leaves the mini program's data alone; a
// user_info_modified push for a user without content security changes
// nothing.
func TestPushAvatarVerdicts(t *testing.T) {
	ctx := context.Background()
	ta := newTestAPI(t, withPush(t))
	token, userID := ta.login(t, "pam")
	if a := ta.do(t, "PUT", "/v1/me", token, `{"nickname":"Pam"}`); a.status != 200 {
		t.Fatal(a.raw)
	}
	safe := wechat.Sealer{Token: testPushToken, EncodingAESKey: testPushKey, AppID: testPushAppID, Mode: wechat.ModeSafe}
	// Two avatars, each waiting for its verdict; the second is shown.
	for i, id := range []string{"up-a", "up-b"} {
		up := avatar.Upload{ID: id, UserID: userID, Key: "uploads/" + userID + "/" + id + ".png",
			AvatarKey: "avatars/" + userID + "/" + id + "/avatar", ThumbKey: "avatars/" + userID + "/" + id + "/thumb",
			ContentType: "image/png", URL: "https://cdn.example.com/" + id, ThumbURL: "https://cdn.example.com/" + id + "/thumb",
			MaxBytes: 1000, ExpiresAt: ta.now.Add(time.Hour)}
		at := ta.now.Add(time.Duration(i-5) * time.Minute)
		if err := ta.store.CreateUpload(ctx, up, 0, at); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ta.store.ConfirmUpload(ctx, userID, id, 10, avatar.ReviewPlan{Deadline: ta.now.Add(time.Hour)}, at); err != nil {
			t.Fatal(err)
		}
		if err := ta.store.ReviewAsked(ctx, id, "trace-"+id, at); err != nil {
			t.Fatal(err)
		}
	}
	verdict := func(trace, result string) string {
		return `{"ToUserName":"gh_1","FromUserName":"x","CreateTime":1714112445,"MsgType":"event","Event":"wxa_media_check",` +
			`"appid":"` + testPushAppID + `","trace_id":"` + trace + `","version":2,"result":` + result + `}`
	}
	me := func() userJSON {
		t.Helper()
		var env struct{ User userJSON }
		a := ta.do(t, "GET", "/v1/me", token, "")
		if a.status != 200 || json.Unmarshal([]byte(a.raw), &env) != nil {
			t.Fatalf("GET /v1/me: %d %s", a.status, a.raw)
		}
		return env.User
	}

	if rec := ta.push(t, safe, verdict("trace-up-a", `{"suggest":"pass","label":100}`)); rec.Code != 200 || rec.Body.String() != "success" {
		t.Fatalf("pass for a: %d %s", rec.Code, rec.Body)
	}
	for i := range 2 { // the risky verdict, delivered twice; the label a string
		if rec := ta.push(t, safe, verdict("trace-up-b", `{"suggest":"risky","label":"20002"}`)); rec.Code != 200 || rec.Body.String() != "success" {
			t.Fatalf("risky for b, delivery %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	u := me()
	if u.AvatarURL == nil || *u.AvatarURL != "https://cdn.example.com/up-a" || u.AvatarReview == nil ||
		*u.AvatarReview != (avatarReviewJSON{Status: "rejected", UploadID: "up-b", Reason: "risky"}) {
		t.Errorf("after the verdicts: %+v (review %+v); want avatar a back, b rejected as risky", u, u.AvatarReview)
	}
	if rec := ta.push(t, safe, verdict("trace-nobody", `{"suggest":"risky","label":20002}`)); rec.Code != 200 {
		t.Errorf("a verdict for no trace: %d %s; want 200", rec.Code, rec.Body)
	}
	xmlSafe := safe
	xmlSafe.XML = true
	xmlVerdict := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><MsgType><![CDATA[event]]></MsgType>` +
		`<Event><![CDATA[wxa_media_check]]></Event><trace_id><![CDATA[trace-up-a]]></trace_id>` +
		`<result><suggest><![CDATA[risky]]></suggest><label>20001</label></result></xml>`
	if rec := ta.push(t, xmlSafe, xmlVerdict); rec.Code != 200 {
		t.Fatalf("XML verdict: %d %s", rec.Code, rec.Body)
	}
	if u := me(); u.AvatarURL == nil || *u.AvatarURL != "https://cdn.example.com/up-a" {
		t.Errorf("a was approved, so a later risky verdict is for nothing waiting: avatar %v; want a kept", u.AvatarURL)
	}

	plugin := `{"ToUserName":"gh_1","FromUserName":"x","CreateTime":1714112445,"MsgType":"event",` +
		`"Event":"user_authorization_revoke","OpenID":"dev-openid-pam","AppID":"` + testPushAppID + `","RevokeInfo":"6",` +
		`"PluginID":"wxplugin0001","OpenPID":"p1"}`
	modified := strings.Replace(plugin, "user_authorization_revoke", "user_info_modified", 1)
	for _, msg := range []string{plugin, modified} {
		if rec := ta.push(t, safe, msg); rec.Code != 200 || rec.Body.String() != "success" {
			t.Fatalf("%s: %d %s", msg, rec.Code, rec.Body)
		}
	}
	if u := me(); u.Nickname != "Pam" {
		t.Errorf("after a plugin's revocation and a modified profile without content security: nickname %q; want Pam", u.Nickname)
	}
}
