package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func docPush(t testing.TB, previous ...PushSecrets) *Push {
	t.Helper()
	p, err := NewPush(docAppID, PushSecrets{Token: docToken, EncodingAESKey: docEncodingAESKey}, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeDocumentSafePush(t *testing.T) {
	// The query of the page's safe-mode example, as WeChat sends it.
	q, err := url.ParseQuery("signature=" + docSafeSignature + "&timestamp=" + docSafeTimestamp + "&nonce=" + docSafeNonce +
		"&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature=" + docSafeMsgSignature)
	if err != nil {
		t.Fatal(err)
	}
	body := `{
    "ToUserName": "gh_97417a04a28d",
    "Encrypt": "` + docSafeEncrypt + `"
}`
	e, err := docPush(t).Decode(q, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if e.Event != "debug_demo" || e.MsgType != "event" || e.FromUserName != "o9AgO5Kd5ggOC-bXrbNODIiE3bGY" ||
		e.ToUserName != "gh_97417a04a28d" || e.CreateTime != 1714112445 || string(e.Message) != docSafeMsg {
		t.Errorf("got %+v; want the document's debug_demo event", e)
	}

	// The same push to a Push of another mini program decrypts but is not ours.
	other, err := NewPush("wx0000000000000000", PushSecrets{Token: docToken, EncodingAESKey: docEncodingAESKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decode(q, []byte(body)); !errors.Is(err, ErrWrongAppID) {
		t.Errorf("another AppID: got %v; want ErrWrongAppID", err)
	}
}

func TestDecodeDocumentPlainPush(t *testing.T) {
	p, err := NewPush(docAppID, PushSecrets{Token: docToken})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"signature": {docPlainSignature}, "timestamp": {docPlainTimestamp}, "nonce": {docPlainNonce}}
	e, err := p.Decode(q, []byte(docPlainBody))
	if err != nil {
		t.Fatal(err)
	}
	if e.Event != "debug_demo" || e.CreateTime != 1714037059 {
		t.Errorf("got %+v; want the document's debug_demo event", e)
	}
	// With an EncodingAESKey configured the console encrypts every push: a plain one is refused.
	if _, err := docPush(t).Decode(q, []byte(docPlainBody)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("plain push to an encrypting Push: got %v; want ErrBadSignature", err)
	}
}

func TestPushVerifyURL(t *testing.T) {
	q := url.Values{"signature": {docURLSignature}, "timestamp": {docURLTimestamp}, "nonce": {docURLNonce}, "echostr": {"4375120948345356249"}}
	if !docPush(t).VerifyURL(q) {
		t.Error("current Token: got false; want true")
	}
	rotated := docPush(t)
	if err := rotated.SetSecrets(PushSecrets{Token: "BBBBB"}, PushSecrets{Token: docToken}); err != nil {
		t.Fatal(err)
	}
	if !rotated.VerifyURL(q) {
		t.Error("previous Token: got false; want true")
	}
	if err := rotated.SetSecrets(PushSecrets{Token: "BBBBB"}); err != nil {
		t.Fatal(err)
	}
	if rotated.VerifyURL(q) {
		t.Error("retired Token: got true; want false")
	}
}

func docSealer(mode Mode, xml bool) Sealer {
	return Sealer{Token: docToken, EncodingAESKey: docEncodingAESKey, AppID: docAppID, Mode: mode, XML: xml}
}

func TestSealDecodeRoundTrip(t *testing.T) {
	for _, mode := range []struct {
		name string
		mode Mode
	}{{"plain", ModePlain}, {"compatible", ModeCompatible}, {"safe", ModeSafe}} {
		for _, f := range []struct {
			name string
			xml  bool
			msg  string
		}{{"JSON", false, mediaCheckJSON}, {"XML", true, mediaCheckXML}} {
			t.Run(mode.name+"/"+f.name, func(t *testing.T) {
				p := docPush(t)
				if mode.mode == ModePlain {
					p = mustPush(t, PushSecrets{Token: docToken})
				}
				q, body, err := docSealer(mode.mode, f.xml).Seal([]byte(f.msg), "1714112445", "415670741")
				if err != nil {
					t.Fatal(err)
				}
				if mode.mode == ModeSafe && bytes.Contains(body, []byte("trace_id")) {
					t.Errorf("a safe-mode body shows the message: %s", body)
				}
				if mode.mode == ModeCompatible && !bytes.Contains(body, []byte("trace_id")) {
					t.Errorf("a compatible-mode body lacks the plaintext fields: %s", body)
				}
				e, err := p.Decode(q, body)
				if err != nil {
					t.Fatalf("got %v for %v %s", err, q, body)
				}
				traceID, suggest, label, ok := e.MediaCheck()
				if !ok || traceID != "6622c4b3-5c0a1234-7d8e9f00" || suggest != SuggestRisky || label != 20002 {
					t.Errorf("got %q %q %d %v; want the trace id, risky, 20002, true", traceID, suggest, label, ok)
				}
				if e.AppID != docAppID || e.ToUserName != "gh_38cc0f9ae95e" || string(e.Message) != f.msg {
					t.Errorf("got %+v", e)
				}
			})
		}
	}
}

func mustPush(t testing.TB, s PushSecrets, previous ...PushSecrets) *Push {
	t.Helper()
	p, err := NewPush(docAppID, s, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// In compatible mode the plaintext fields beside Encrypt are not signed: a changed one must not
// change what Decode returns.
func TestDecodeCompatibleUsesTheEncryptedCopy(t *testing.T) {
	q, body, err := docSealer(ModeCompatible, false).Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	fields["result"] = map[string]any{"suggest": "pass", "label": 100}
	fields["trace_id"] = "forged"
	forged, _ := json.Marshal(fields)

	e, err := docPush(t).Decode(q, forged)
	if err != nil {
		t.Fatal(err)
	}
	if traceID, suggest, _, _ := e.MediaCheck(); traceID != "6622c4b3-5c0a1234-7d8e9f00" || suggest != SuggestRisky {
		t.Errorf("got %q %q; want the encrypted trace id and risky", traceID, suggest)
	}

	// XML compatible mode: the same.
	q, body, err = docSealer(ModeCompatible, true).Seal([]byte(mediaCheckXML), "1714112445", "415670741")
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.Replace(body, []byte("risky"), []byte("pass"), 2)
	if e, err = docPush(t).Decode(q, body); err != nil {
		t.Fatal(err)
	}
	if _, suggest, _, _ := e.MediaCheck(); suggest != SuggestRisky {
		t.Errorf("XML: got %q; want risky", suggest)
	}
}

func TestDecodeRefuses(t *testing.T) {
	sealSafe := func(t *testing.T) (url.Values, []byte) {
		q, body, err := docSealer(ModeSafe, false).Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
		if err != nil {
			t.Fatal(err)
		}
		return q, body
	}
	plain := mustPush(t, PushSecrets{Token: docToken})

	cases := []struct {
		name string
		push *Push
		make func(t *testing.T) (url.Values, []byte)
		want error
	}{
		{"bad msg_signature", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, body := sealSafe(t)
			q.Set("msg_signature", Sign("AAAAB", "1714112445", "415670741", "x"))
			return q, body
		}, ErrBadSignature},
		{"no msg_signature", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, body := sealSafe(t)
			q.Del("msg_signature")
			return q, body
		}, ErrBadSignature},
		{"msg_signature for another timestamp", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, body := sealSafe(t)
			q.Set("timestamp", "1714112446")
			return q, body
		}, ErrBadSignature},
		{"Encrypt changed after signing", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, body := sealSafe(t)
			return q, bytes.Replace(body, []byte(`"Encrypt":"`), []byte(`"Encrypt":"AAAA`), 1)
		}, ErrBadSignature},
		{"only the plain signature is right", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, body := sealSafe(t)
			q.Del("encrypt_type")
			return q, body
		}, ErrBadSignature},
		{"bad signature", plain, func(t *testing.T) (url.Values, []byte) {
			q, body, _ := docSealer(ModePlain, false).Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
			q.Set("signature", strings.Repeat("0", 40))
			return q, body
		}, ErrBadSignature},
		{"plain push signed with another token", plain, func(t *testing.T) (url.Values, []byte) {
			s := docSealer(ModePlain, false)
			s.Token = "AAAAB"
			q, body, _ := s.Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
			return q, body
		}, ErrBadSignature},
		{"encrypted push to a plain-mode Push", plain, func(t *testing.T) (url.Values, []byte) { return sealSafe(t) }, ErrBadSignature},
		{"wrong appid", docPush(t), func(t *testing.T) (url.Values, []byte) {
			s := docSealer(ModeSafe, false)
			s.AppID = "wx0000000000000000"
			q, body, _ := s.Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
			return q, body
		}, ErrWrongAppID},
		{"unknown encrypt_type", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, body := sealSafe(t)
			q.Set("encrypt_type", "des")
			return q, body
		}, ErrMalformed},
		{"no Encrypt", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, _ := sealSafe(t)
			return q, []byte(`{"ToUserName":"gh_38cc0f9ae95e"}`)
		}, ErrMalformed},
		{"Encrypt not a string", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, _ := sealSafe(t)
			return q, []byte(`{"Encrypt":7}`)
		}, ErrMalformed},
		{"body neither JSON nor XML", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, _ := sealSafe(t)
			return q, []byte("Encrypt=abc")
		}, ErrMalformed},
		{"signed plain body that is not a message", plain, func(t *testing.T) (url.Values, []byte) {
			q, body, _ := docSealer(ModePlain, false).Seal([]byte("[1,2]"), "1714112445", "415670741")
			return q, body
		}, ErrMalformed},
		{"signed envelope whose message is not JSON", docPush(t), func(t *testing.T) (url.Values, []byte) {
			q, body, _ := docSealer(ModeSafe, false).Seal([]byte("hello"), "1714112445", "415670741")
			return q, body
		}, ErrMalformed},
	}
	// Envelopes correctly signed whose content must still be refused.
	for name, c := range craftedCiphertexts(t) {
		cases = append(cases, struct {
			name string
			push *Push
			make func(t *testing.T) (url.Values, []byte)
			want error
		}{"signed: " + name, docPush(t), func(t *testing.T) (url.Values, []byte) {
			return signedEnvelope(c.encrypt), []byte(`<xml><Encrypt><![CDATA[` + c.encrypt + `]]></Encrypt></xml>`)
		}, c.want})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, body := c.make(t)
			if _, err := c.push.Decode(q, body); !errors.Is(err, c.want) {
				t.Errorf("got %v; want %v", err, c.want)
			}
		})
	}
}

// signedEnvelope is the query WeChat would send with encrypted, signed with the document's Token.
func signedEnvelope(encrypted string) url.Values {
	return url.Values{
		"timestamp":     {"1714112445"},
		"nonce":         {"415670741"},
		"encrypt_type":  {"aes"},
		"msg_signature": {Sign(docToken, "1714112445", "415670741", encrypted)},
	}
}

func TestRotation(t *testing.T) {
	const newKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	oldSealer := docSealer(ModeSafe, false)
	newSealer := oldSealer
	newSealer.Token, newSealer.EncodingAESKey = "BBBBB", newKey
	oldQ, oldBody, err := oldSealer.Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
	if err != nil {
		t.Fatal(err)
	}
	newQ, newBody, err := newSealer.Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
	if err != nil {
		t.Fatal(err)
	}

	p := docPush(t)
	if _, err := p.Decode(newQ, newBody); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("before the rotation, the new secrets: got %v; want ErrBadSignature", err)
	}
	if err := p.SetSecrets(PushSecrets{Token: "BBBBB", EncodingAESKey: newKey}, PushSecrets{Token: docToken, EncodingAESKey: docEncodingAESKey}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		q    url.Values
		body []byte
	}{"old": {oldQ, oldBody}, "new": {newQ, newBody}} {
		if _, err := p.Decode(c.q, c.body); err != nil {
			t.Errorf("during the rotation, the %s secrets: got %v; want accepted", name, err)
		}
	}
	if err := p.SetSecrets(PushSecrets{Token: "BBBBB", EncodingAESKey: newKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Decode(oldQ, oldBody); !errors.Is(err, ErrBadSignature) {
		t.Errorf("after the rotation, the old secrets: got %v; want ErrBadSignature", err)
	}

	// Only the key changes: both share the Token, and the right key is found by trying each.
	sameToken := oldSealer
	sameToken.EncodingAESKey = newKey
	q, body, err := sameToken.Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetSecrets(PushSecrets{Token: docToken, EncodingAESKey: docEncodingAESKey}, PushSecrets{Token: docToken, EncodingAESKey: newKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Decode(q, body); err != nil {
		t.Errorf("a key rotation under one Token: got %v; want accepted", err)
	}

	// From plain to safe mode: the previous, plain secrets still accept plain pushes.
	if err := p.SetSecrets(PushSecrets{Token: docToken, EncodingAESKey: docEncodingAESKey}, PushSecrets{Token: docToken}); err != nil {
		t.Fatal(err)
	}
	pq, pbody, _ := docSealer(ModePlain, false).Seal([]byte(mediaCheckJSON), "1714112445", "415670741")
	if _, err := p.Decode(pq, pbody); err != nil {
		t.Errorf("plain push while leaving plain mode: got %v; want accepted", err)
	}
}

func TestSecretsValidated(t *testing.T) {
	if _, err := NewPush("", PushSecrets{Token: docToken}); err == nil {
		t.Error("empty AppID: got no error")
	}
	if _, err := NewPush(docAppID, PushSecrets{}); err == nil {
		t.Error("empty Token: got no error")
	}
	if _, err := NewPush(docAppID, PushSecrets{Token: docToken, EncodingAESKey: "short"}); err == nil {
		t.Error("short EncodingAESKey: got no error")
	}
	p := docPush(t)
	if err := p.SetSecrets(PushSecrets{Token: "BBBBB"}, PushSecrets{Token: ""}); err == nil {
		t.Error("an invalid previous secret: got no error")
	}
	// Nothing changed: the document's push still decodes.
	q := signedEnvelope(docSafeEncrypt)
	if _, err := p.Decode(q, []byte(`{"Encrypt":"`+docSafeEncrypt+`"}`)); err != nil {
		t.Errorf("after a refused SetSecrets: got %v; want the old secrets kept", err)
	}
}

func TestSealerRefuses(t *testing.T) {
	s := docSealer(ModeSafe, false)
	s.EncodingAESKey = "short"
	if _, _, err := s.Seal([]byte(mediaCheckJSON), "1", "2"); err == nil {
		t.Error("bad key: got no error")
	}
	s = docSealer(Mode(7), false)
	if _, _, err := s.Seal([]byte(mediaCheckJSON), "1", "2"); err == nil {
		t.Error("unknown mode: got no error")
	}
	s = docSealer(ModeSafe, false)
	s.Random = strings.NewReader("too short")
	if _, _, err := s.Seal([]byte(mediaCheckJSON), "1", "2"); err == nil {
		t.Error("short random: got no error")
	}
	s.Random = strings.NewReader("a8eedb185eb2fecf")
	q, body, err := s.Seal([]byte(docSafeMsg), docSafeTimestamp, docSafeNonce)
	if err != nil {
		t.Fatal(err)
	}
	// With the document's random prefix the Sealer rebuilds the document's push exactly.
	if q.Get("msg_signature") != docSafeMsgSignature || q.Get("signature") != docSafeSignature ||
		string(body) != `{"ToUserName":"gh_97417a04a28d","Encrypt":"`+docSafeEncrypt+`"}` {
		t.Errorf("got %v %s; want the document's push", q, body)
	}
}

// FuzzDecode checks that no query and body make Decode panic, and that every refusal is one of the
// three errors. With sign set the fuzzer's envelope is signed correctly, so that its content
// reaches decryption and parsing.
func FuzzDecode(f *testing.F) {
	seed := func(q url.Values, body []byte, sign bool) {
		f.Add(q.Get("encrypt_type"), q.Get("timestamp"), q.Get("nonce"), q.Get("signature"), q.Get("msg_signature"), body, sign)
	}
	seed(signedEnvelope(docSafeEncrypt), []byte(`{"ToUserName":"gh_97417a04a28d","Encrypt":"`+docSafeEncrypt+`"}`), false)
	for _, mode := range []Mode{ModePlain, ModeCompatible, ModeSafe} {
		for _, x := range []bool{false, true} {
			msg := mediaCheckJSON
			if x {
				msg = mediaCheckXML
			}
			q, body, err := docSealer(mode, x).Seal([]byte(msg), "1714112445", "415670741")
			if err != nil {
				f.Fatal(err)
			}
			seed(q, body, false)
			seed(q, body, true)
		}
	}
	push := docPush(f, PushSecrets{Token: docToken})
	f.Fuzz(func(t *testing.T, encryptType, timestamp, nonce, signature, msgSignature string, body []byte, sign bool) {
		q := url.Values{"encrypt_type": {encryptType}, "timestamp": {timestamp}, "nonce": {nonce},
			"signature": {signature}, "msg_signature": {msgSignature}}
		if sign {
			q.Set("signature", Sign(docToken, timestamp, nonce))
			if enc, err := envelopeEncrypt(body); err == nil {
				q.Set("msg_signature", Sign(docToken, timestamp, nonce, enc))
			}
		}
		e, err := push.Decode(q, body)
		if err != nil {
			if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrWrongAppID) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v; want one of the three errors", err)
			}
			return
		}
		e.MediaCheck()
		e.Revoked()
	})
}
