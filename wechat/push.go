package wechat

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync/atomic"
)

// Errors of Decode. The handler answers ErrBadSignature with 403 and the others with 400; every
// error Decode returns wraps exactly one of them.
var (
	// ErrBadSignature: the push's signature (plain mode) or msg_signature (compatible and safe
	// mode) does not match any accepted Token, or it came without encryption while the accepted
	// secrets say the console encrypts.
	ErrBadSignature = errors.New("wechat: the push signature does not match")
	// ErrWrongAppID: the envelope decrypted but was sealed for another mini program.
	ErrWrongAppID = errors.New("wechat: the push is for another AppID")
	// ErrMalformed: the query or the body is not a push WeChat would send.
	ErrMalformed = errors.New("wechat: malformed push")
)

// PushSecrets is one generation of the console's message-push settings (开发管理 → 消息推送配置).
type PushSecrets struct {
	// Token signs every push.
	Token string
	// EncodingAESKey is the 43-character key of compatible and safe mode. Leave it empty when the
	// console is in plain mode; when it is set, pushes without encryption are refused, as WeChat
	// encrypts every push in those modes.
	EncodingAESKey string
}

// secret is a PushSecrets made ready for use; key is nil in plain mode.
type secret struct {
	token string
	key   []byte
}

func (s PushSecrets) parse() (secret, error) {
	if s.Token == "" {
		return secret{}, errors.New("wechat: the push Token is empty")
	}
	out := secret{token: s.Token}
	if s.EncodingAESKey != "" {
		key, err := parseAESKey(s.EncodingAESKey)
		if err != nil {
			return secret{}, err
		}
		out.key = key
	}
	return out, nil
}

// Push checks and decodes WeChat's message pushes for one mini program. It holds no HTTP: the
// handler passes it the query and the body. Its secrets can be swapped at any time, also while
// Decode runs in other goroutines.
type Push struct {
	appID   string
	secrets atomic.Pointer[[]secret]
}

// NewPush returns a Push for the mini program appID that accepts pushes made with current or with
// any of previous (see SetSecrets).
func NewPush(appID string, current PushSecrets, previous ...PushSecrets) (*Push, error) {
	if appID == "" {
		return nil, errors.New("wechat: the AppID is empty")
	}
	p := &Push{appID: appID}
	if err := p.SetSecrets(current, previous...); err != nil {
		return nil, err
	}
	return p, nil
}

// SetSecrets replaces the accepted secrets at once. previous are the ones still accepted while a
// rotation settles: WeChat switches as soon as the console is saved, and instances pick up new
// settings one by one. It changes nothing when any of them is invalid.
func (p *Push) SetSecrets(current PushSecrets, previous ...PushSecrets) error {
	all := make([]secret, 0, 1+len(previous))
	for _, s := range append([]PushSecrets{current}, previous...) {
		parsed, err := s.parse()
		if err != nil {
			return err
		}
		all = append(all, parsed)
	}
	p.secrets.Store(&all)
	return nil
}

// VerifyURL reports whether query (signature, timestamp, nonce) is WeChat's URL check made with an
// accepted Token. The handler answers the query's echostr unchanged when it is.
func (p *Push) VerifyURL(query url.Values) bool {
	ok := false
	for _, s := range *p.secrets.Load() {
		// No early exit: the time taken does not depend on which secret matched.
		if VerifyURL(s.token, query.Get("signature"), query.Get("timestamp"), query.Get("nonce")) {
			ok = true
		}
	}
	return ok
}

// Decode checks a push's signature and returns the event it carries. query is the POST's query
// (timestamp, nonce, signature; encrypt_type=aes and msg_signature in compatible and safe mode),
// body its body, JSON or XML (told by its first byte). In compatible mode only the encrypted copy
// of the message is read: the plaintext beside it is not covered by msg_signature.
//
// The body is parsed whole: the handler limits its size. Decode never panics, whatever the input.
func (p *Push) Decode(query url.Values, body []byte) (Event, error) {
	secrets := *p.secrets.Load()
	timestamp, nonce := query.Get("timestamp"), query.Get("nonce")

	switch query.Get("encrypt_type") {
	case "", "raw": // official-account SDKs send raw for an unencrypted push
		signature, ok := query.Get("signature"), false
		for _, s := range secrets {
			if s.key == nil && signatureMatches(signature, s.token, timestamp, nonce) {
				ok = true
			}
		}
		if !ok {
			return Event{}, ErrBadSignature
		}
		return parseEvent(body)

	case "aes":
		encrypted, err := envelopeEncrypt(body)
		if err != nil {
			return Event{}, err
		}
		// Several accepted secrets may share a Token during a key rotation: try each that signs.
		msgSignature := query.Get("msg_signature")
		var keys [][]byte
		for _, s := range secrets {
			if s.key != nil && signatureMatches(msgSignature, s.token, timestamp, nonce, encrypted) {
				keys = append(keys, s.key)
			}
		}
		if len(keys) == 0 {
			return Event{}, ErrBadSignature
		}
		var firstErr error
		for _, key := range keys {
			msg, err := decryptMessage(key, p.appID, encrypted)
			if err == nil {
				return parseEvent(msg)
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return Event{}, firstErr
	}
	return Event{}, fmt.Errorf("%w: unknown encrypt_type", ErrMalformed)
}

// envelopeEncrypt returns the Encrypt field of a compatible- or safe-mode body.
func envelopeEncrypt(body []byte) (string, error) {
	var enc string
	switch sniff(body) {
	case formatJSON:
		var w struct{ Encrypt string }
		if json.Unmarshal(body, &w) != nil {
			return "", fmt.Errorf("%w: the body is not the JSON expected", ErrMalformed)
		}
		enc = w.Encrypt
	case formatXML:
		var w struct{ Encrypt string }
		if xml.Unmarshal(body, &w) != nil {
			return "", fmt.Errorf("%w: the body is not the XML expected", ErrMalformed)
		}
		enc = w.Encrypt
	default:
		return "", fmt.Errorf("%w: the body is neither JSON nor XML", ErrMalformed)
	}
	if enc == "" {
		return "", fmt.Errorf("%w: the body has no Encrypt", ErrMalformed)
	}
	return enc, nil
}

// Mode is the console's 消息加解密方式.
type Mode int

const (
	// ModePlain (明文模式) sends the message as is, signed by signature.
	ModePlain Mode = iota
	// ModeCompatible (兼容模式) sends the message's fields and, beside them, Encrypt.
	ModeCompatible
	// ModeSafe (安全模式) sends only ToUserName and Encrypt.
	ModeSafe
)

// Sealer builds pushes the way WeChat sends them: the sending half of Push, for tests and for fake
// WeChat servers in other packages' tests.
type Sealer struct {
	// Token, EncodingAESKey and AppID are the console's settings and the mini program's AppID.
	Token, EncodingAESKey, AppID string
	// Mode is the console's encryption mode.
	Mode Mode
	// XML makes compatible- and safe-mode envelopes XML; they are JSON otherwise. The message
	// itself is passed to Seal already in the chosen format.
	XML bool
	// Random supplies the 16 random bytes that start each envelope; crypto/rand when nil.
	Random io.Reader
}

// Seal returns the query and the body of a push carrying msg, a JSON or XML message, sent at
// timestamp with nonce.
func (s Sealer) Seal(msg []byte, timestamp, nonce string) (url.Values, []byte, error) {
	q := url.Values{}
	q.Set("signature", Sign(s.Token, timestamp, nonce))
	q.Set("timestamp", timestamp)
	q.Set("nonce", nonce)
	if s.Mode == ModePlain {
		return q, msg, nil
	}
	if s.Mode != ModeCompatible && s.Mode != ModeSafe {
		return nil, nil, fmt.Errorf("wechat: unknown mode %d", s.Mode)
	}

	key, err := parseAESKey(s.EncodingAESKey)
	if err != nil {
		return nil, nil, err
	}
	random := s.Random
	if random == nil {
		random = rand.Reader
	}
	prefix := make([]byte, randomLen)
	if _, err := io.ReadFull(random, prefix); err != nil {
		return nil, nil, fmt.Errorf("wechat: reading the random prefix: %w", err)
	}
	encrypted, err := encryptMessage(key, s.AppID, prefix, msg)
	if err != nil {
		return nil, nil, err
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", Sign(s.Token, timestamp, nonce, encrypted))

	var body []byte
	switch {
	case s.Mode == ModeSafe && s.XML:
		var toUser string
		if e, err := parseEvent(msg); err == nil {
			toUser = e.ToUserName
		}
		body, err = xml.Marshal(xmlEnvelope{ToUserName: cdata{toUser}, Encrypt: cdata{encrypted}})
	case s.Mode == ModeSafe:
		var toUser string
		if e, err := parseEvent(msg); err == nil {
			toUser = e.ToUserName
		}
		body, err = json.Marshal(struct {
			ToUserName string
			Encrypt    string
		}{toUser, encrypted})
	case s.XML:
		// The message's own fields, then Encrypt, inside the same root element.
		end := bytes.LastIndex(msg, []byte("</"))
		if end < 0 {
			return nil, nil, errors.New("wechat: the message is not an XML element")
		}
		field, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"Encrypt"`
			cdata
		}{cdata: cdata{encrypted}})
		body = append(append(append([]byte{}, msg[:end]...), field...), msg[end:]...)
	default:
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(msg, &fields); err != nil {
			return nil, nil, errors.New("wechat: the message is not a JSON object")
		}
		fields["Encrypt"], _ = json.Marshal(encrypted)
		body, err = json.Marshal(fields)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("wechat: %w", err)
	}
	return q, body, nil
}

// xmlEnvelope is a safe-mode XML body, with WeChat's CDATA sections.
type xmlEnvelope struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName cdata
	Encrypt    cdata
}

type cdata struct {
	Text string `xml:",cdata"`
}
