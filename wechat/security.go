package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrUserInactive is errcode 61010: WeChat checks content only for a user
// who used the mini program recently (about 2 hours, sometimes less).
var ErrUserInactive = errors.New("wechat user has not visited the mini program recently")

// TokenSource hands out the access token the content security calls need.
// *Tokens is one.
type TokenSource interface {
	// Token returns the current access token.
	Token(ctx context.Context) (string, error)
	// Invalidate reports that WeChat refused token as invalid or expired.
	Invalidate(token string)
}

var _ TokenSource = (*Tokens)(nil)

// Suggest is WeChat's advice on a piece of content.
type Suggest string

// The suggestions WeChat gives; a verdict never carries another.
const (
	SuggestPass   Suggest = "pass"
	SuggestReview Suggest = "review"
	SuggestRisky  Suggest = "risky"
)

// Verdict is WeChat's overall judgement of a text.
type Verdict struct {
	Suggest Suggest
	// Label is the main category: 100 normal, 10001 ads, 20001 politics,
	// 20002 porn, 20003 abuse, 20006 illegal, 20008 fraud, 20012 vulgar,
	// 20013 copyright, 21000 other.
	Label int
	// TraceID identifies the check at WeChat.
	TraceID string
}

// Client makes the content security calls of one mini program.
type Client struct {
	textCheck  *url.URL
	mediaCheck *url.URL
	tokens     TokenSource
	client     *http.Client
}

// NewClient builds a client for the WeChat API at base (normally
// https://api.weixin.qq.com) that gets its access tokens from tokens. A nil
// client gets one with a 5 s timeout.
func NewClient(base string, tokens TokenSource, client *http.Client) (*Client, error) {
	u, err := parseBase(base)
	if err != nil {
		return nil, err
	}
	if tokens == nil {
		return nil, errors.New("wechat: nil token source")
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &Client{
		textCheck:  u.JoinPath("wxa", "msg_sec_check"),
		mediaCheck: u.JoinPath("wxa", "media_check_async"),
		tokens:     tokens,
		client:     client,
	}, nil
}

// Scene 1 is 资料 (a user's profile), where nicknames and avatars belong.
const sceneProfile = 1

type textCheckRequest struct {
	Version int    `json:"version"`
	OpenID  string `json:"openid"`
	Scene   int    `json:"scene"`
	Content string `json:"content"`
}

type textCheckAnswer struct {
	TraceID string `json:"trace_id"`
	Result  struct {
		Suggest Suggest `json:"suggest"`
		Label   flexInt `json:"label"`
	} `json:"result"`
}

// CheckText asks WeChat (msgSecCheck v2, profile scene) whether content, a
// text the user openid wrote, may be shown. Errors are ErrUserInactive,
// ErrUnavailable (worth retrying), ErrRefused or ErrBadCredentials; a verdict
// comes only with a nil error.
func (c *Client) CheckText(ctx context.Context, openid, content string) (Verdict, error) {
	const api = "msg_sec_check"
	raw, err := c.call(ctx, api, c.textCheck, textCheckRequest{Version: 2, OpenID: openid, Scene: sceneProfile, Content: content})
	if err != nil {
		return Verdict{}, err
	}
	var a textCheckAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return Verdict{}, fmt.Errorf("%w: %s: answer is not a verdict", ErrUnavailable, api)
	}
	switch a.Result.Suggest {
	case SuggestPass, SuggestReview, SuggestRisky:
	default:
		// errcode 0 only says the call worked: without a known suggestion
		// there is no verdict, and guessing one would pass or refuse blindly.
		return Verdict{}, fmt.Errorf("%w: %s: answer without a known suggest", ErrUnavailable, api)
	}
	return Verdict{Suggest: a.Result.Suggest, Label: int(a.Result.Label), TraceID: a.TraceID}, nil
}

type mediaCheckRequest struct {
	MediaURL  string `json:"media_url"`
	MediaType int    `json:"media_type"`
	Version   int    `json:"version"`
	Scene     int    `json:"scene"`
	OpenID    string `json:"openid"`
}

type mediaCheckAnswer struct {
	TraceID string `json:"trace_id"`
}

// mediaImage is media_type 2; 1 would be audio.
const mediaImage = 2

// CheckImageAsync asks WeChat (mediaCheckAsync v2, profile scene) to check
// the image at mediaURL, which must be downloadable from the internet, for
// the user openid. It returns the trace id that WeChat's verdict, pushed
// later as event wxa_media_check, will carry. Errors are as for CheckText.
func (c *Client) CheckImageAsync(ctx context.Context, openid, mediaURL string) (string, error) {
	const api = "media_check_async"
	raw, err := c.call(ctx, api, c.mediaCheck, mediaCheckRequest{MediaURL: mediaURL, MediaType: mediaImage, Version: 2, Scene: sceneProfile, OpenID: openid})
	if err != nil {
		return "", err
	}
	var a mediaCheckAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.TraceID == "" {
		return "", fmt.Errorf("%w: %s: answer without trace_id", ErrUnavailable, api)
	}
	return a.TraceID, nil
}

// call POSTs req to endpoint with an access token in the query string and
// returns the answer once its errcode is 0. When WeChat says the token is
// invalid or expired it invalidates it and tries once more with a fresh one;
// a second refusal is an error, so a token WeChat keeps refusing cannot make
// a loop.
func (c *Client) call(ctx context.Context, api string, endpoint *url.URL, req any) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: encode request", ErrUnavailable, api)
	}
	for retried := false; ; retried = true {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		u := *endpoint
		u.RawQuery = url.Values{"access_token": {tok}}.Encode()
		raw, err := postJSON(ctx, c.client, api, u.String(), body)
		if err != nil {
			return nil, err
		}
		var s status
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: %s: answer is not JSON", ErrUnavailable, api)
		}
		switch s.ErrCode {
		case 0:
			return raw, nil
		case 40001, 40014, 42001: // invalid credential, invalid token, token expired
			if !retried {
				c.tokens.Invalidate(tok)
				continue
			}
			// Refused twice: another instance may have forced a refresh.
		case 61010:
			return nil, fmt.Errorf("%w: %s", ErrUserInactive, s.describe(api))
		case -1, 45009, 45011, 45035: // system busy; call limits reached
		default: // 40003 bad openid, 40129 bad scene, 43104 openid of another app, 44002, 47001...
			return nil, fmt.Errorf("%w: %s", ErrRefused, s.describe(api))
		}
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, s.describe(api))
	}
}

// flexInt reads a number that WeChat sends sometimes as a JSON number and
// sometimes as a string ("label": 100 or "label": "100").
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("wechat: %q is not an integer", s)
		}
		*n = flexInt(v)
		return nil
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*n = flexInt(v)
	return nil
}
