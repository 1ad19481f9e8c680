// Package auth owns who a caller is: the WeChat code2Session exchange (and
// its development stand-in) and session tokens signed with a rotating key
// ring. It knows no HTTP framework: handler/ turns a request's bearer token
// into a user with Tokens.Verify.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wxavatar/wxavatar/internal/netfail"
)

// Login errors, one per answer the API distinguishes.
var (
	ErrInvalidCode    = errors.New("login code invalid or already used")
	ErrUserRestricted = errors.New("user restricted by wechat")
	ErrRateLimited    = errors.New("wechat rate limit")
	ErrUnavailable    = errors.New("wechat unavailable")
)

// Identity is who WeChat says the code belongs to. The session_key is
// deliberately absent: nothing in wxavatar needs it, so it is dropped as soon
// as the answer is parsed and can never be stored, returned or logged.
type Identity struct {
	OpenID  string
	UnionID string
}

// WeChat exchanges wx.login codes through code2Session.
type WeChat struct {
	endpoint *url.URL
	appID    string
	secret   atomic.Pointer[string] // swapped when the AppSecret is reset
	client   *http.Client
}

// NewWeChat builds a client for the WeChat API at base (normally
// https://api.weixin.qq.com). A nil client gets one with a 5 s timeout.
func NewWeChat(base, appID, secret string, client *http.Client) (*WeChat, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth: wechat api base %q is not an http(s) URL", base)
	}
	if appID == "" || secret == "" {
		return nil, errors.New("auth: empty wechat appid or secret")
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	w := &WeChat{endpoint: u.JoinPath("sns", "jscode2session"), appID: appID, client: client}
	w.secret.Store(&secret)
	return w, nil
}

// SetSecret swaps the AppSecret; exchanges already under way keep the old one.
func (w *WeChat) SetSecret(secret string) error {
	if secret == "" {
		return errors.New("auth: empty wechat secret")
	}
	w.secret.Store(&secret)
	return nil
}

// code2SessionAnswer is the JSON WeChat answers; session_key is read only so
// that it is not silently kept around in an untyped map.
type code2SessionAnswer struct {
	OpenID  string `json:"openid"`
	UnionID string `json:"unionid"`
	ErrCode *int   `json:"errcode"`
}

// Exchange trades a wx.login code for the user's identity.
func (w *WeChat) Exchange(ctx context.Context, code string) (Identity, error) {
	u := *w.endpoint
	u.RawQuery = url.Values{
		"appid":      {w.appID},
		"secret":     {*w.secret.Load()},
		"js_code":    {code},
		"grant_type": {"authorization_code"},
	}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: build request", ErrUnavailable)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// The *url.Error carries the URL, and the URL carries the secret and
		// the code: report only what kind of failure it was.
		return Identity{}, fmt.Errorf("%w: %s", ErrUnavailable, netfail.Describe(err))
	}
	defer resp.Body.Close()
	// WeChat does not always label its JSON as JSON, so the body is parsed
	// whatever the Content-Type says.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: read answer: %s", ErrUnavailable, netfail.Describe(err))
	}
	if resp.StatusCode != http.StatusOK {
		return Identity{}, fmt.Errorf("%w: http status %d", ErrUnavailable, resp.StatusCode)
	}
	var a code2SessionAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return Identity{}, fmt.Errorf("%w: answer is not JSON", ErrUnavailable)
	}
	errcode := 0 // a successful answer may omit errcode
	if a.ErrCode != nil {
		errcode = *a.ErrCode
	}
	switch errcode {
	case 0:
		if a.OpenID == "" {
			return Identity{}, fmt.Errorf("%w: answer without openid", ErrUnavailable)
		}
		return Identity{OpenID: a.OpenID, UnionID: a.UnionID}, nil
	case 40029, 40163:
		return Identity{}, fmt.Errorf("%w (errcode %d)", ErrInvalidCode, errcode)
	case 40226:
		return Identity{}, fmt.Errorf("%w (errcode %d)", ErrUserRestricted, errcode)
	case 45011:
		return Identity{}, fmt.Errorf("%w (errcode %d)", ErrRateLimited, errcode)
	default:
		return Identity{}, fmt.Errorf("%w: errcode %d", ErrUnavailable, errcode)
	}
}

// DevLogin stands in for WeChat in `serve --dev`. The code "dev-<name>" logs
// in as the user <name>, so tests and curl can be several people. Any other
// code is what wx.login returns in WeChat DevTools, a real code that only
// WeChat could exchange: it logs in as the one user "devtools", so that the
// sample mini program works in DevTools out of the box and keeps its avatar
// across launches. Set WECHAT_APPID and WECHAT_SECRET to use real WeChat
// login in --dev.
type DevLogin struct{}

// DevToolsUser is the user a WeChat-shaped code logs in as in --dev.
const DevToolsUser = "devtools"

// Exchange accepts dev-<name> where name is 1–32 letters, digits, '-' or '_',
// and a WeChat-shaped code; anything else is invalid, so a client's handling
// of invalid_code can be tried in --dev.
func (DevLogin) Exchange(_ context.Context, code string) (Identity, error) {
	name, ok := strings.CutPrefix(code, "dev-")
	if !ok {
		if !wechatShaped(code) {
			return Identity{}, ErrInvalidCode
		}
		return Identity{OpenID: "dev-openid-" + DevToolsUser}, nil
	}
	if name == "" || len(name) > 32 || strings.IndexFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return Identity{}, ErrInvalidCode
	}
	return Identity{OpenID: "dev-openid-" + name}, nil
}

// wechatShaped reports whether code looks like a wx.login code: 16 to 64
// ASCII letters and digits.
func wechatShaped(code string) bool {
	if len(code) < 16 || len(code) > 64 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
