package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWeChatExchange(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		status      int
		body        string
		want        Identity
		wantErr     error
	}{
		{"ok without errcode", "text/plain", 200, `{"openid":"o1","session_key":"sk","unionid":"u1"}`, Identity{OpenID: "o1", UnionID: "u1"}, nil},
		{"ok with errcode 0", "application/json", 200, `{"openid":"o2","session_key":"sk","errcode":0,"errmsg":"ok"}`, Identity{OpenID: "o2"}, nil},
		{"invalid code", "application/json", 200, `{"errcode":40029,"errmsg":"invalid code"}`, Identity{}, ErrInvalidCode},
		{"code used", "application/json", 200, `{"errcode":40163,"errmsg":"code been used"}`, Identity{}, ErrInvalidCode},
		{"high risk user", "application/json", 200, `{"errcode":40226,"errmsg":"high risk"}`, Identity{}, ErrUserRestricted},
		{"rate limited", "application/json", 200, `{"errcode":45011,"errmsg":"api minute-quota reach limit"}`, Identity{}, ErrRateLimited},
		{"system busy", "application/json", 200, `{"errcode":-1,"errmsg":"system error"}`, Identity{}, ErrUnavailable},
		{"other errcode", "application/json", 200, `{"errcode":40013,"errmsg":"invalid appid"}`, Identity{}, ErrUnavailable},
		{"no openid", "application/json", 200, `{"session_key":"sk"}`, Identity{}, ErrUnavailable},
		{"not json", "text/html", 200, `<html>bad gateway</html>`, Identity{}, ErrUnavailable},
		{"http 500", "application/json", 500, `{}`, Identity{}, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			wc, err := NewWeChat(srv.URL, "wxappid", "topsecret", nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wc.Exchange(context.Background(), "code")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v; want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("identity = %+v; want %+v", got, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "sk")) {
				t.Errorf("error text %q leaks a secret", err)
			}
		})
	}
}

func TestWeChatRequestShape(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Write([]byte(`{"openid":"o"}`))
	}))
	defer srv.Close()
	wc, err := NewWeChat(srv.URL+"/", "wxappid", "se&cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	const code = "a&b=c d+/?#"
	if _, err := wc.Exchange(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodGet || got.URL.Path != "/sns/jscode2session" {
		t.Errorf("request %s %s; want GET /sns/jscode2session", got.Method, got.URL.Path)
	}
	q := got.URL.Query()
	for k, want := range map[string]string{"appid": "wxappid", "secret": "se&cret", "js_code": code, "grant_type": "authorization_code"} {
		if q.Get(k) != want {
			t.Errorf("query %s = %q; want %q", k, q.Get(k), want)
		}
	}
}

func TestWeChatTimeoutDoesNotLeakSecret(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	wc, err := NewWeChat(srv.URL, "wxappid", "topsecret", &http.Client{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wc.Exchange(context.Background(), "secretcode")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v; want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "secretcode") {
		t.Errorf("error text %q leaks the secret or the code", err)
	}
}

func TestNewWeChatRejectsBadConfig(t *testing.T) {
	for _, base := range []string{"", "ftp://x", "not a url", "https://"} {
		if _, err := NewWeChat(base, "a", "s", nil); err == nil {
			t.Errorf("NewWeChat(%q) accepted a bad base", base)
		}
	}
	if _, err := NewWeChat("https://api.weixin.qq.com", "", "s", nil); err == nil {
		t.Error("NewWeChat accepted an empty appid")
	}
}

func TestDevLogin(t *testing.T) {
	for code, want := range map[string]string{
		"dev-alice": "dev-openid-alice", "dev-Bob_2": "dev-openid-Bob_2",
		// What wx.login returns in WeChat DevTools: one stable user.
		"0c3Xa8000Ow1sT1bqA300y0wnS2Xa80x": "dev-openid-devtools", "0a1b2c3d4e5f6g7h": "dev-openid-devtools",
		// Neither a dev code nor WeChat-shaped; a malformed dev code.
		"alice": "", "0c3Xa8000Ow1sT1bqA300y0wnS2Xa80x-": "", strings.Repeat("a", 65): "", "dev-": "", "dev-a b": "", "dev-" + strings.Repeat("x", 33): "", "dev-../x": "",
	} {
		id, err := DevLogin{}.Exchange(context.Background(), code)
		if want == "" {
			if !errors.Is(err, ErrInvalidCode) {
				t.Errorf("Exchange(%q) err = %v; want ErrInvalidCode", code, err)
			}
			continue
		}
		if err != nil || id.OpenID != want {
			t.Errorf("Exchange(%q) = %q, %v; want %q", code, id.OpenID, err, want)
		}
	}
}
