package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxavatar/wxavatar/internal/netfail"
)

// Errors shared by every call to WeChat.
var (
	// ErrUnavailable means WeChat gave no usable answer: network failure,
	// timeout, an HTTP error status, an answer that is not JSON, errcode -1
	// (busy) or a rate limit. Trying again later may work.
	ErrUnavailable = errors.New("wechat unavailable")
	// ErrRefused means WeChat refused a content security call with an
	// errcode that the same call will get again (a bad openid, a request
	// it does not take): it needs a fix, not a retry.
	ErrRefused = errors.New("wechat refused the call")
	// ErrBadCredentials means WeChat refused the AppID or AppSecret when
	// asked for an access token: an operator has to fix the configuration
	// (after an AppSecret reset, Tokens.SetSecret).
	ErrBadCredentials = errors.New("wechat rejected the appid or secret")
)

const (
	// renewLead is how long before expiry a token is renewed. WeChat's
	// normal mode issues a new token 5 minutes before the old one expires
	// and honours both meanwhile, so renewing then lands in the overlap.
	renewLead = 5 * time.Minute
	// maxLifetime is the longest lifetime WeChat documents; a larger
	// expires_in is not trusted.
	maxLifetime = 2 * time.Hour
	// expirySlack keeps a cached token from being used right up to its
	// expiry, which our clock and the network only approximate.
	expirySlack = 30 * time.Second
	// retryAfterFailure spaces out background renewals while WeChat fails
	// and the cached token still works, so that a failing stable_token is
	// not asked again on every call.
	retryAfterFailure = 30 * time.Second
	// fetchTimeout bounds a renewal that no caller's context bounds (the
	// renewal outlives the caller that started it, and a background renewal
	// has no caller at all).
	fetchTimeout = 15 * time.Second
	// maxAnswer bounds how much of an answer is read.
	maxAnswer = 64 << 10
)

// Tokens hands out the stable access token of one mini program
// (POST /cgi-bin/stable_token in normal mode, never force_refresh, which
// would invalidate the token every other instance holds). The token is
// cached in memory and renewed in the background shortly before it expires,
// while callers keep getting the cached one; only a caller with no usable
// token (the first, or after expiry or Invalidate) waits for WeChat. There
// is at most one request to WeChat in flight. Several processes may each
// hold their own Tokens: normal mode gives them all the same token.
type Tokens struct {
	endpoint *url.URL
	appID    string
	secret   atomic.Pointer[string] // swapped when the AppSecret is reset
	client   *http.Client
	now      func() time.Time
	// background runs a renewal that no caller waits for (go run());
	// tests replace it to follow or await the renewal.
	background func(run func())

	mu          sync.Mutex
	token       string    // "" when none yet or invalidated
	usableUntil time.Time // token is handed out until then
	refreshAt   time.Time // a background renewal is due (or may be retried) from then
	inflight    *fetch    // the renewal under way, if any
}

// fetch is one renewal; done is closed once token or err is set.
type fetch struct {
	done  chan struct{}
	token string
	err   error
}

// NewTokens builds a token source for the WeChat API at base (normally
// https://api.weixin.qq.com). A nil client gets one with a 5 s timeout; a nil
// now is time.Now.
func NewTokens(base, appID, secret string, client *http.Client, now func() time.Time) (*Tokens, error) {
	u, err := parseBase(base)
	if err != nil {
		return nil, err
	}
	if appID == "" || secret == "" {
		return nil, errors.New("wechat: empty appid or secret")
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	t := &Tokens{
		endpoint:   u.JoinPath("cgi-bin", "stable_token"),
		appID:      appID,
		client:     client,
		now:        now,
		background: func(run func()) { go run() },
	}
	t.secret.Store(&secret)
	return t, nil
}

// SetSecret swaps the AppSecret for the next renewal; the cached token is
// kept, and a renewal already under way uses the old secret.
func (t *Tokens) SetSecret(secret string) error {
	if secret == "" {
		return errors.New("wechat: empty secret")
	}
	t.secret.Store(&secret)
	return nil
}

// Token returns the cached access token at once while it is usable, and
// starts its renewal in the background when that is due. Without a usable
// token it waits for WeChat, as long as ctx lets it. Errors are
// ErrUnavailable or ErrBadCredentials.
func (t *Tokens) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	now := t.now()
	if t.token != "" && now.Before(t.usableUntil) {
		tok := t.token
		var f *fetch
		if t.inflight == nil && !now.Before(t.refreshAt) {
			f = &fetch{done: make(chan struct{})}
			t.inflight = f
		}
		t.mu.Unlock()
		if f != nil {
			// Nobody waits for this renewal: it must not end with the
			// caller's context, which may be cancelled once we return.
			t.background(func() { t.renew(context.WithoutCancel(ctx), f) })
		}
		return tok, nil
	}
	f := t.inflight
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		t.inflight = f
		// The renewal serves every waiter, so it must not end when the
		// caller that happened to start it gives up.
		go t.renew(context.WithoutCancel(ctx), f)
	}
	t.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("%w: stable_token: %s", ErrUnavailable, netfail.Describe(ctx.Err()))
	}
}

// Invalidate drops token from the cache after WeChat answered 40001 or
// 42001 to a call made with it, so that the next Token asks WeChat again. It
// does nothing when the cache already holds another token: a caller that
// raced with a renewal then simply gets the newer one.
func (t *Tokens) Invalidate(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if token != "" && t.token == token {
		t.token = ""
	}
}

func (t *Tokens) renew(ctx context.Context, f *fetch) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	start := t.now()
	tok, lifetime, err := t.fetch(ctx)

	t.mu.Lock()
	defer t.mu.Unlock()
	defer close(f.done)
	t.inflight = nil
	if err != nil {
		// A token that has not expired still works: keep serving it and
		// let a call after retryAfterFailure try again. The error is
		// dropped: nothing logs or keeps it.
		now := t.now()
		if t.token != "" && now.Before(t.usableUntil) {
			f.token = t.token
			t.refreshAt = now.Add(retryAfterFailure)
			return
		}
		f.err = err
		return
	}
	// Renewing at half the lifetime when it is short (expires_in can be as
	// low as 300 in the overlap) keeps a short-lived token from being
	// renewed on every call.
	lead := min(renewLead, lifetime/2)
	t.token, t.refreshAt = tok, start.Add(lifetime-lead)
	// A lifetime too short for the slack is still served until it is due.
	t.usableUntil = start.Add(lifetime - expirySlack)
	if t.usableUntil.Before(t.refreshAt) {
		t.usableUntil = t.refreshAt
	}
	f.token = tok
}

type stableTokenRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

type stableTokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	status
}

// fetch asks WeChat for the token in normal mode.
func (t *Tokens) fetch(ctx context.Context) (string, time.Duration, error) {
	const api = "stable_token"
	body, err := json.Marshal(stableTokenRequest{
		GrantType: "client_credential",
		AppID:     t.appID,
		Secret:    *t.secret.Load(),
		// force_refresh would invalidate the token every instance holds.
		ForceRefresh: false,
	})
	if err != nil {
		return "", 0, fmt.Errorf("%w: %s: encode request", ErrUnavailable, api)
	}
	raw, err := postJSON(ctx, t.client, api, t.endpoint.String(), body)
	if err != nil {
		return "", 0, err
	}
	var a stableTokenAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return "", 0, fmt.Errorf("%w: %s: answer is not JSON", ErrUnavailable, api)
	}
	switch a.ErrCode {
	case 0:
	case 40001, 40013, 40125, 40243, 41002, 41004:
		// 40001 here is a wrong AppSecret (there is no token yet);
		// 40013 invalid appid, 40125 invalid secret, 40243 secret frozen,
		// 41002/41004 appid/secret missing.
		return "", 0, fmt.Errorf("%w: %s", ErrBadCredentials, a.describe(api))
	default:
		return "", 0, fmt.Errorf("%w: %s", ErrUnavailable, a.describe(api))
	}
	if a.AccessToken == "" || a.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("%w: %s: answer without access_token or expires_in", ErrUnavailable, api)
	}
	return a.AccessToken, min(time.Duration(a.ExpiresIn)*time.Second, maxLifetime), nil
}

// status is the part every WeChat answer shares; a successful answer may
// omit errcode, which then reads as 0.
type status struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// ridPattern finds WeChat's request id in errmsg ("... rid: 655d9278-7c157f97-69055077").
var ridPattern = regexp.MustCompile(`rid: ([0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8})`)

// describe names the API and errcode, plus WeChat's request id for its
// support when there is one. The rest of errmsg is left out: it is free text
// that an error should not carry into logs.
func (s status) describe(api string) string {
	if m := ridPattern.FindStringSubmatch(s.ErrMsg); m != nil {
		return fmt.Sprintf("%s: errcode %d (rid %s)", api, s.ErrCode, m[1])
	}
	return fmt.Sprintf("%s: errcode %d", api, s.ErrCode)
}

// postJSON POSTs body to target and returns the answer of a 200. Failures are
// ErrUnavailable, described without target, which may carry a token.
func postJSON(ctx context.Context, client *http.Client, api, target string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: build request", ErrUnavailable, api)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// The *url.Error carries the URL, and the URL may carry the access
		// token: report only what kind of failure it was.
		return nil, fmt.Errorf("%w: %s: %s", ErrUnavailable, api, netfail.Describe(err))
	}
	defer resp.Body.Close()
	// WeChat does not always label its JSON as JSON, so the body is parsed
	// whatever the Content-Type says.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: read answer: %s", ErrUnavailable, api, netfail.Describe(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: http status %d", ErrUnavailable, api, resp.StatusCode)
	}
	return raw, nil
}

func parseBase(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("wechat: api base %q is not an http(s) URL", base)
	}
	return u, nil
}
