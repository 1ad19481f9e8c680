package wechat

import (
	"errors"
	"slices"
	"testing"
)

// A v2 verdict in both formats, shaped as wechat-facts.md records WeChat's push.
const (
	mediaCheckJSON = `{"ToUserName":"gh_38cc0f9ae95e","FromUserName":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","CreateTime":1714112445,` +
		`"MsgType":"event","Event":"wxa_media_check","appid":"` + docAppID + `","trace_id":"6622c4b3-5c0a1234-7d8e9f00",` +
		`"version":2,"result":{"suggest":"risky","label":20002},` +
		`"detail":[{"strategy":"content_model","errcode":0,"suggest":"risky","label":20002,"prob":90}]}`
	mediaCheckXML = `<xml><ToUserName><![CDATA[gh_38cc0f9ae95e]]></ToUserName><FromUserName><![CDATA[oGZUI0egBJY1zhBYw2KhdUfwVJJE]]></FromUserName>` +
		`<CreateTime>1714112445</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[wxa_media_check]]></Event>` +
		`<appid><![CDATA[` + docAppID + `]]></appid><trace_id><![CDATA[6622c4b3-5c0a1234-7d8e9f00]]></trace_id><version>2</version>` +
		`<result><suggest><![CDATA[risky]]></suggest><label>20002</label></result>` +
		`<detail><strategy><![CDATA[content_model]]></strategy><errcode>0</errcode><suggest><![CDATA[risky]]></suggest><label>20002</label><prob>90</prob></detail></xml>`
)

func TestMediaCheck(t *testing.T) {
	for _, c := range []struct {
		name, msg      string
		traceID        string
		suggest        Suggest
		label          int
		ok             bool
		wantAppID      string
		wantCreateTime int64
	}{
		{"v2 JSON, label a number", mediaCheckJSON, "6622c4b3-5c0a1234-7d8e9f00", SuggestRisky, 20002, true, docAppID, 1714112445},
		{"v2 XML", mediaCheckXML, "6622c4b3-5c0a1234-7d8e9f00", SuggestRisky, 20002, true, docAppID, 1714112445},
		// The shape wechat-facts.md records, with label as a string as it has been seen.
		{"v2 JSON, label a string", `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":"1714112445","MsgType":"event",` +
			`"Event":"wxa_media_check","appid":"wx1","trace_id":"t1","version":2,"result":{"suggest":"pass","label":"100"}}`,
			"t1", SuggestPass, 100, true, "wx1", 1714112445},
		{"v2 review", `{"Event":"wxa_media_check","trace_id":"t1","result":{"suggest":"review","label":21000}}`, "t1", SuggestReview, 21000, true, "", 0},
		{"suggest in capitals", `{"Event":"wxa_media_check","trace_id":"t1","result":{"suggest":" Risky ","label":20001}}`, "t1", SuggestRisky, 20001, true, "", 0},
		{"unknown suggest", `{"Event":"wxa_media_check","trace_id":"t1","result":{"suggest":"maybe","label":100}}`, "t1", "", 100, true, "", 0},
		{"unreadable label", `{"Event":"wxa_media_check","trace_id":"t1","result":{"suggest":"risky","label":{"x":1}}}`, "t1", SuggestRisky, 0, true, "", 0},
		{"label too large", `{"Event":"wxa_media_check","trace_id":"t1","result":{"suggest":"risky","label":99999999999}}`, "t1", SuggestRisky, 0, true, "", 0},
		{"XML label as text with spaces", `<xml><Event>wxa_media_check</Event><trace_id>t1</trace_id><result><suggest>pass</suggest><label> 100 </label></result></xml>`,
			"t1", SuggestPass, 100, true, "", 0},
		// v1 pushes as reported on WeChat's community forum (安全模式 JSON, decrypted).
		{"v1 isrisky 0, status 0", `{"ToUserName":"gh_406d9032","FromUserName":"oiRBY5ba_vhG2mcxs","CreateTime":1658730632,"MsgType":"event",` +
			`"Event":"wxa_media_check","isrisky":0,"extra_info_json":"","appid":"wxffc3ff3f1d","trace_id":"bd8117e7041fd2424bdac93effdb745f","status_code":0,"detail":[]}`,
			"bd8117e7041fd2424bdac93effdb745f", SuggestPass, 0, true, "wxffc3ff3f1d", 1658730632},
		{"v1 isrisky 0, the media could not be checked", `{"Event":"wxa_media_check","isrisky":0,"extra_info_json":"","trace_id":"b170f800","status_code":4294966287,"detail":[]}`,
			"b170f800", "", 0, true, "", 0},
		{"v1 isrisky 1", `{"Event":"wxa_media_check","isrisky":1,"trace_id":"t1","status_code":0}`, "t1", SuggestRisky, 0, true, "", 0},
		{"v1 isrisky as a string", `{"Event":"wxa_media_check","isrisky":"1","trace_id":"t1"}`, "t1", SuggestRisky, 0, true, "", 0},
		{"v1 XML", `<xml><Event><![CDATA[wxa_media_check]]></Event><isrisky>1</isrisky><trace_id>t1</trace_id><status_code>0</status_code></xml>`,
			"t1", SuggestRisky, 0, true, "", 0},
		{"neither shape", `{"Event":"wxa_media_check","trace_id":"t1"}`, "t1", "", 0, true, "", 0},
		{"isrisky 2", `{"Event":"wxa_media_check","trace_id":"t1","isrisky":2}`, "t1", "", 0, true, "", 0},
		{"no trace_id", `{"Event":"wxa_media_check","result":{"suggest":"pass","label":100}}`, "", "", 0, false, "", 0},
		{"another event", `{"Event":"user_info_modified","trace_id":"t1","result":{"suggest":"pass"}}`, "", "", 0, false, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := parseEvent([]byte(c.msg))
			if err != nil {
				t.Fatal(err)
			}
			traceID, suggest, label, ok := e.MediaCheck()
			if traceID != c.traceID || suggest != c.suggest || label != c.label || ok != c.ok {
				t.Errorf("got %q %q %d %v; want %q %q %d %v", traceID, suggest, label, ok, c.traceID, c.suggest, c.label, c.ok)
			}
			if e.AppID != c.wantAppID || e.CreateTime != c.wantCreateTime {
				t.Errorf("got AppID %q, CreateTime %d; want %q, %d", e.AppID, e.CreateTime, c.wantAppID, c.wantCreateTime)
			}
		})
	}
}

// The XML example is WeChat's (mini program doc authorized_user_information_changes, 5.1); its JSON
// example has a space inside three keys and a trailing comma, so the JSON here is that example
// made valid.
const (
	revokeXML = `<xml>
<ToUserName><![CDATA[gh_870882ca4b1]]></ToUserName>
<FromUserName><![CDATA[owAqB1v0ahK_Xlc7GshIDdf2yf7E]]></FromUserName>
<CreateTime>1626857200</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[user_authorization_revoke]]></Event>
<OpenID><![CDATA[owAqB1nqaOYYWl0Ng484G2z5NIwU]]></OpenID>
<AppID><![CDATA[wx13974bf780d3dc89]]></AppID>
<RevokeInfo><![CDATA[1]]></RevokeInfo>
</xml>`
	revokeJSON = `{"ToUserName":"gh_870882ca4b1","FromUserName":"oaKk346BaWE-eIn4oSRWbaM9vR7s","CreateTime":1627359464,` +
		`"MsgType":"event","Event":"user_authorization_revoke","OpenID":"oaKk343WOktAaT2ygsX138BGblrg",` +
		`"AppID":"wx13974bf780d3dc89","RevokeInfo":"301"}`
)

func TestUserEventsDocumentExamples(t *testing.T) {
	for _, c := range []struct {
		name, msg, openID, from string
		revoke                  []int
	}{
		{"XML", revokeXML, "owAqB1nqaOYYWl0Ng484G2z5NIwU", "owAqB1v0ahK_Xlc7GshIDdf2yf7E", []int{1}},
		{"JSON", revokeJSON, "oaKk343WOktAaT2ygsX138BGblrg", "oaKk346BaWE-eIn4oSRWbaM9vR7s", []int{301}},
	} {
		e, err := parseEvent([]byte(c.msg))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if e.Event != EventUserAuthorizationRevoke || e.OpenID != c.openID || e.FromUserName != c.from ||
			e.AppID != "wx13974bf780d3dc89" || !slices.Equal(e.RevokeInfo, c.revoke) {
			t.Errorf("%s: got %+v", c.name, e)
		}
		if nick, avatar := e.Revoked(); nick || avatar {
			t.Errorf("%s: got nickname %v, avatar %v for RevokeInfo %v; want neither", c.name, nick, avatar, e.RevokeInfo)
		}
	}
}

func TestRevokeInfoShapes(t *testing.T) {
	for _, c := range []struct {
		name, msg        string
		want             []int
		nickname, avatar bool
	}{
		{"JSON string", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":"6"}`, []int{6}, true, true},
		{"JSON number", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":20}`, []int{20}, false, true},
		{"JSON comma list in a string", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":"19,20"}`, []int{19, 20}, true, true},
		{"JSON other separators", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":"8| 19;13"}`, []int{8, 19, 13}, true, false},
		{"JSON array of numbers", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":[19,8]}`, []int{19, 8}, true, false},
		{"JSON array of strings", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":["20","6"]}`, []int{20, 6}, true, true},
		{"JSON array with junk", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":[{"a":1},true,1.5,20]}`, []int{20}, false, true},
		{"JSON empty", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":""}`, nil, false, false},
		{"JSON null", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":null}`, nil, false, false},
		{"JSON absent", `{"Event":"user_authorization_revoke","OpenID":"o1"}`, nil, false, false},
		{"JSON too large", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":"99999999999,19"}`, []int{19}, true, false},
		{"XML one", `<xml><Event>user_authorization_revoke</Event><OpenID>o1</OpenID><RevokeInfo><![CDATA[20]]></RevokeInfo></xml>`, []int{20}, false, true},
		{"XML comma list", `<xml><Event>user_authorization_revoke</Event><OpenID>o1</OpenID><RevokeInfo>6,8</RevokeInfo></xml>`, []int{6, 8}, true, true},
		{"XML repeated", `<xml><Event>user_authorization_revoke</Event><OpenID>o1</OpenID><RevokeInfo>19</RevokeInfo><RevokeInfo>20</RevokeInfo></xml>`, []int{19, 20}, true, true},
		// A withdrawal from a plugin concerns what the plugin keeps.
		{"JSON from a plugin", `{"Event":"user_authorization_revoke","OpenID":"o1","RevokeInfo":"6","PluginID":"wxplugin1","OpenPID":"p1"}`, []int{6}, false, false},
		{"XML from a plugin", `<xml><Event>user_authorization_revoke</Event><OpenID>o1</OpenID><RevokeInfo>6</RevokeInfo><PluginID>wxplugin1</PluginID></xml>`, []int{6}, false, false},
		// Revoked answers only for the revoke event.
		{"not a revoke", `{"Event":"user_info_modified","OpenID":"o1","RevokeInfo":"6"}`, []int{6}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := parseEvent([]byte(c.msg))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.RevokeInfo, c.want) {
				t.Errorf("got RevokeInfo %v; want %v", e.RevokeInfo, c.want)
			}
			if nick, avatar := e.Revoked(); nick != c.nickname || avatar != c.avatar {
				t.Errorf("got nickname %v, avatar %v; want %v, %v", nick, avatar, c.nickname, c.avatar)
			}
			if e.OpenID != "o1" {
				t.Errorf("got OpenID %q; want o1", e.OpenID)
			}
		})
	}
}

func TestOtherEvents(t *testing.T) {
	for _, c := range []struct{ msg, event, openID string }{
		{`{"ToUserName":"gh_1","FromUserName":"x","CreateTime":1,"MsgType":"event","Event":"user_info_modified","OpenID":"o1","AppID":"wx1"}`, EventUserInfoModified, "o1"},
		// WeChat has been seen to leave OpenID out of user_info_modified: FromUserName is not used instead.
		{`{"ToUserName":"gh_1","FromUserName":"x","CreateTime":1,"MsgType":"event","Event":"user_info_modified"}`, EventUserInfoModified, ""},
		{`<xml><MsgType>event</MsgType><Event>user_authorization_cancellation</Event><OpenID>o2</OpenID></xml>`, EventUserAuthorizationCancellation, "o2"},
		{`{"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`, "debug_demo", ""},
		{`{"MsgType":"text","Content":"hi","MsgId":1}`, "", ""},
		{"\xef\xbb\xbf \n<xml><Event>subscribe_msg_popup_event</Event></xml>", "subscribe_msg_popup_event", ""},
		{`<root><Event>any_root</Event></root>`, "any_root", ""},
	} {
		e, err := parseEvent([]byte(c.msg))
		if err != nil {
			t.Errorf("%s: %v", c.msg, err)
			continue
		}
		if e.Event != c.event || e.OpenID != c.openID {
			t.Errorf("%s: got event %q, OpenID %q; want %q, %q", c.msg, e.Event, e.OpenID, c.event, c.openID)
		}
		if _, _, _, ok := e.MediaCheck(); ok {
			t.Errorf("%s: MediaCheck ok for a %q event", c.msg, e.Event)
		}
	}
}

func TestParseEventRefuses(t *testing.T) {
	for _, msg := range []string{
		"", "   ", "hello", "[]", "[1]", "{", `{"Event":1}`, `{"ToUserName":["x"]}`, "<xml>", "<xml><Event>x</Ev></xml>", "null",
	} {
		if _, err := parseEvent([]byte(msg)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v; want ErrMalformed", msg, err)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{mediaCheckJSON, mediaCheckXML, revokeXML, revokeJSON, docSafeMsg,
		`{"RevokeInfo":[1,"2",[3]],"result":{"label":"x"},"isrisky":"1"}`, `<xml><RevokeInfo>1</RevokeInfo><result><label>2</label></result></xml>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		e, err := parseEvent(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v; want ErrMalformed", err)
			}
			return
		}
		_, suggest, _, _ := e.MediaCheck()
		switch suggest {
		case "", SuggestPass, SuggestReview, SuggestRisky:
		default:
			t.Fatalf("got suggest %q", suggest)
		}
		e.Revoked()
	})
}
