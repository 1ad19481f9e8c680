package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// The document vectors below come from WeChat's mini program message-push page,
// https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html
// (section 开发者服务器接收消息推送), which works its examples with Token "AAAAA". They are the only
// values here made by WeChat rather than by this package, so they are what shows the algorithm is
// WeChat's and not merely consistent with itself.
const (
	docToken          = "AAAAA"
	docEncodingAESKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 43 × "A"
	docAppID          = "wxba5fad812f8e6fb9"

	// 发起验证: the URL check.
	docURLTimestamp = "1714036504"
	docURLNonce     = "1514711492"
	docURLSignature = "f464b24fc39322e44b38aa78f5edd27bd1441696"

	// 消息解密方式为明文模式: a plain-mode debug_demo push.
	docPlainTimestamp = "1714037059"
	docPlainNonce     = "486452656"
	docPlainSignature = "899cf89e464efb63f54ddac96b0a0a235f53aa78"
	docPlainBody      = `{
    "ToUserName": "gh_97417a04a28d",
    "FromUserName": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
    "CreateTime": 1714037059,
    "MsgType": "event",
    "Event": "debug_demo",
    "debug_str": "hello world"
}`

	// 消息解密方式为安全模式: a safe-mode JSON debug_demo push, with the plaintext the page
	// decrypts it to (random "a8eedb185eb2fecf", msg_len 167).
	docSafeTimestamp    = "1714112445"
	docSafeNonce        = "415670741"
	docSafeSignature    = "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
	docSafeMsgSignature = "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
	docSafeEncrypt      = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
	docSafeMsg          = `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`

	// The same page's encrypted reply: random "707722b803182950" and {"demo_resp":"good luck"}
	// sealed for the same AppID, signed at 1713424427 with the push's nonce.
	docReplyRandom       = "707722b803182950"
	docReplyMsg          = `{"demo_resp":"good luck"}`
	docReplyEncrypt      = "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
	docReplyTimestamp    = "1713424427"
	docReplyMsgSignature = "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
)

func TestSignDocumentVectors(t *testing.T) {
	for _, c := range []struct {
		name   string
		values []string
		want   string
	}{
		{"URL check", []string{docToken, docURLTimestamp, docURLNonce}, docURLSignature},
		{"plain push", []string{docToken, docPlainTimestamp, docPlainNonce}, docPlainSignature},
		{"safe push signature", []string{docToken, docSafeTimestamp, docSafeNonce}, docSafeSignature},
		{"safe push msg_signature", []string{docToken, docSafeTimestamp, docSafeNonce, docSafeEncrypt}, docSafeMsgSignature},
		{"reply MsgSignature", []string{docToken, docReplyTimestamp, docSafeNonce, docReplyEncrypt}, docReplyMsgSignature},
		// The order of the arguments must not matter: they are sorted.
		{"any order", []string{docURLNonce, docToken, docURLTimestamp}, docURLSignature},
	} {
		if got := Sign(c.values...); got != c.want {
			t.Errorf("%s: got %s; want %s", c.name, got, c.want)
		}
	}
}

func TestVerifyURL(t *testing.T) {
	if !VerifyURL(docToken, docURLSignature, docURLTimestamp, docURLNonce) {
		t.Fatal("got false for the document's URL check; want true")
	}
	for _, c := range []struct{ name, token, sig, ts, nonce string }{
		{"other token", "AAAAB", docURLSignature, docURLTimestamp, docURLNonce},
		{"other timestamp", docToken, docURLSignature, "1714036505", docURLNonce},
		{"other nonce", docToken, docURLSignature, docURLTimestamp, "1514711493"},
		{"upper-case hex", docToken, strings.ToUpper(docURLSignature), docURLTimestamp, docURLNonce},
		{"truncated", docToken, docURLSignature[:39], docURLTimestamp, docURLNonce},
		{"empty signature", docToken, "", docURLTimestamp, docURLNonce},
		{"empty token", "", Sign("", docURLTimestamp, docURLNonce), docURLTimestamp, docURLNonce},
	} {
		if VerifyURL(c.token, c.sig, c.ts, c.nonce) {
			t.Errorf("%s: got true; want false", c.name)
		}
	}
}

func docKey(t testing.TB) []byte {
	t.Helper()
	key, err := parseAESKey(docEncodingAESKey)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestParseAESKey(t *testing.T) {
	key := docKey(t)
	if !bytes.Equal(key, make([]byte, 32)) {
		t.Errorf("got %x for 43 × A; want 32 zero bytes", key)
	}
	// A key whose last character has bits base64 would not use: the console picks any [A-Za-z0-9].
	if _, err := parseAESKey(strings.Repeat("a", 42) + "z"); err != nil {
		t.Errorf("got %v for a key ending in z; want it accepted", err)
	}
	for _, bad := range []string{"", docEncodingAESKey[:42], docEncodingAESKey + "A", strings.Repeat("!", 43)} {
		if _, err := parseAESKey(bad); err == nil {
			t.Errorf("got no error for EncodingAESKey %q; want one", bad)
		}
	}
}

func TestDecryptDocumentVector(t *testing.T) {
	msg, err := decryptMessage(docKey(t), docAppID, docSafeEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != docSafeMsg {
		t.Errorf("got %s; want %s", msg, docSafeMsg)
	}
	if len(msg) != 167 {
		t.Errorf("got msg_len %d; the document says 167", len(msg))
	}
	// The page gives the intermediate sizes too: 224 bytes of ciphertext, 205 of plaintext.
	raw, _ := base64.StdEncoding.DecodeString(docSafeEncrypt)
	plain := rawDecrypt(t, docKey(t), raw)
	if len(raw) != 224 || string(plain[:16]) != "a8eedb185eb2fecf" {
		t.Errorf("got %d bytes, random %q; want 224 and a8eedb185eb2fecf", len(raw), plain[:16])
	}
	if n := len(plain) - int(plain[len(plain)-1]); n != 205 {
		t.Errorf("got %d bytes of plaintext; want 205", n)
	}
}

func TestEncryptDocumentVector(t *testing.T) {
	got, err := encryptMessage(docKey(t), docAppID, []byte(docReplyRandom), []byte(docReplyMsg))
	if err != nil {
		t.Fatal(err)
	}
	if got != docReplyEncrypt {
		t.Errorf("got %s; want %s", got, docReplyEncrypt)
	}
	if _, err := encryptMessage(docKey(t), docAppID, []byte("short"), nil); err == nil {
		t.Error("got no error for a 5-byte random prefix; want one")
	}
}

// rawEncrypt encrypts plain, a whole number of blocks, with no padding added: it lets a test
// choose every byte the receiver will see after decryption.
func rawEncrypt(t testing.TB, key, plain []byte) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(plain)
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, out)
	return base64.StdEncoding.EncodeToString(out)
}

func rawDecrypt(t testing.TB, key, data []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(data)
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(out, out)
	return out
}

// frame builds random | msg_len | msg | appid with the given msg_len and padding, so that each can
// be wrong on purpose.
func frame(msgLen uint32, msg, appID string, pad []byte) []byte {
	b := make([]byte, 16, 64)
	b = binary.BigEndian.AppendUint32(b, msgLen)
	b = append(b, msg...)
	b = append(b, appID...)
	return append(b, pad...)
}

func padding(n, total int) []byte {
	p := bytes.Repeat([]byte{byte(n)}, total)
	return p
}

// craftedCiphertexts are envelopes that decrypt but must be refused. The frames are sized by hand
// so that each is a whole number of 32-byte blocks.
func craftedCiphertexts(t testing.TB) map[string]struct {
	encrypt string
	want    error
} {
	t.Helper()
	key := docKey(t)
	app := docAppID // 18 bytes
	// 16 + 4 + 10 + 18 = 48: 16 bytes of padding make 64.
	good := frame(10, "0123456789", app, padding(16, 16))
	if _, err := decryptMessage(key, app, rawEncrypt(t, key, good)); err != nil {
		t.Fatalf("the control frame is refused: %v", err)
	}
	wrongPad := bytes.Clone(good)
	wrongPad[len(wrongPad)-5] = 15
	return map[string]struct {
		encrypt string
		want    error
	}{
		"padding 0":                {rawEncrypt(t, key, frame(10, "0123456789", app, append(padding(16, 15), 0))), ErrMalformed},
		"padding 33":               {rawEncrypt(t, key, frame(10, "0123456789", app, append(padding(16, 15), 33))), ErrMalformed},
		"padding bytes disagree":   {rawEncrypt(t, key, wrongPad), ErrMalformed},
		"padding longer than data": {rawEncrypt(t, key, padding(32, 16)), ErrMalformed},
		"plaintext too short":      {rawEncrypt(t, key, append(make([]byte, 4), padding(28, 28)...)), ErrMalformed},
		"msg_len past the end":     {rawEncrypt(t, key, frame(29, "0123456789", app, padding(16, 16))), ErrMalformed},
		"msg_len 2^32-1":           {rawEncrypt(t, key, frame(1<<32-1, "0123456789", app, padding(16, 16))), ErrMalformed},
		"msg_len eats the appid":   {rawEncrypt(t, key, frame(28, "0123456789", app, padding(16, 16))), ErrWrongAppID},
		"another appid":            {rawEncrypt(t, key, frame(10, "0123456789", "wxba5fad812f8e6fb8", padding(16, 16))), ErrWrongAppID},
		"no appid":                 {rawEncrypt(t, key, frame(28, "0123456789"+app, "", padding(16, 16))), ErrWrongAppID},
		"truncated ciphertext":     {docSafeEncrypt[:len(docSafeEncrypt)-24], ErrMalformed},
		"cut to whole blocks":      {base64.StdEncoding.EncodeToString(mustB64(docSafeEncrypt)[:192]), ErrMalformed},
		"not base64":               {"!!!!", ErrMalformed},
		"empty after decoding":     {"====", ErrMalformed},
	}
}

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecryptRefuses(t *testing.T) {
	for name, c := range craftedCiphertexts(t) {
		_, err := decryptMessage(docKey(t), docAppID, c.encrypt)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v; want %v", name, err, c.want)
		}
	}
}

// FuzzDecrypt drives the checks after decryption with plaintexts the fuzzer chooses: a random
// ciphertext almost never gets past the padding check.
func FuzzDecrypt(f *testing.F) {
	f.Add(frame(10, "0123456789", docAppID, padding(16, 16)))
	f.Add(frame(1<<31, "", docAppID, padding(10, 10)))
	f.Add(padding(32, 32))
	f.Fuzz(func(t *testing.T, plain []byte) {
		plain = plain[:len(plain)/16*16]
		if len(plain) == 0 {
			return
		}
		key := docKey(t)
		msg, err := decryptMessage(key, docAppID, rawEncrypt(t, key, plain))
		switch {
		case err == nil:
			if !bytes.Contains(plain, msg) {
				t.Fatalf("the message %x is not part of the plaintext", msg)
			}
		case !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrWrongAppID):
			t.Fatalf("got %v; want ErrMalformed or ErrWrongAppID", err)
		}
	})
}
