package wechat

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func (f *fakeWeChat) newClient(t *testing.T, ts TokenSource) *Client {
	t.Helper()
	c, err := NewClient(f.server.URL, ts, f.server.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeWeChat) calls(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checkCalls[path]
}

// answerChecks makes the fake answer every check made with a valid token
// with status and body.
func (f *fakeWeChat) answerChecks(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkAnswer = func(w http.ResponseWriter, _ string, _ map[string]any) bool {
		w.WriteHeader(status)
		w.Write([]byte(body))
		return true
	}
}

func TestCheckTextVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    Verdict
		wantErr error
	}{
		{"pass", 200, `{"errcode":0,"errmsg":"ok","detail":[{"strategy":"keyword","errcode":0},{"strategy":"content_model","errcode":0,"suggest":"pass","label":100,"prob":90}],"trace_id":"t-pass","result":{"suggest":"pass","label":100}}`,
			Verdict{Suggest: SuggestPass, Label: 100, TraceID: "t-pass"}, nil},
		{"pass without errcode", 200, `{"trace_id":"t-pass2","result":{"suggest":"pass","label":100}}`,
			Verdict{Suggest: SuggestPass, Label: 100, TraceID: "t-pass2"}, nil},
		{"review", 200, `{"errcode":0,"errmsg":"ok","trace_id":"t-review","result":{"suggest":"review","label":20012}}`,
			Verdict{Suggest: SuggestReview, Label: 20012, TraceID: "t-review"}, nil},
		{"risky", 200, `{"errcode":0,"errmsg":"ok","trace_id":"t-risky","result":{"suggest":"risky","label":20003}}`,
			Verdict{Suggest: SuggestRisky, Label: 20003, TraceID: "t-risky"}, nil},
		{"label as string", 200, `{"errcode":0,"errmsg":"ok","trace_id":"t-str","result":{"suggest":"risky","label":"20002"},"detail":[{"label":"20002"}]}`,
			Verdict{Suggest: SuggestRisky, Label: 20002, TraceID: "t-str"}, nil},
		{"pass label as string", 200, `{"errcode":0,"errmsg":"ok","trace_id":"t-str2","result":{"suggest":"pass","label":"100"}}`,
			Verdict{Suggest: SuggestPass, Label: 100, TraceID: "t-str2"}, nil},
		{"label not a number", 200, `{"errcode":0,"trace_id":"t","result":{"suggest":"pass","label":"normal"}}`, Verdict{}, ErrUnavailable},
		{"unknown suggest", 200, `{"errcode":0,"trace_id":"t","result":{"suggest":"block","label":20001}}`, Verdict{}, ErrUnavailable},
		{"no result", 200, `{"errcode":0,"errmsg":"ok","trace_id":"t"}`, Verdict{}, ErrUnavailable},
		{"user inactive", 200, `{"errcode":61010,"errmsg":"user visit record expired rid: 655d9278-7c157f97-69055077"}`, Verdict{}, ErrUserInactive},
		{"busy", 200, `{"errcode":-1,"errmsg":"system error"}`, Verdict{}, ErrUnavailable},
		{"openid mismatch", 200, `{"errcode":43104,"errmsg":"appid and openid not match"}`, Verdict{}, ErrRefused},
		{"invalid openid", 200, `{"errcode":40003,"errmsg":"invalid openid"}`, Verdict{}, ErrRefused},
		{"rate limited", 200, `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, Verdict{}, ErrUnavailable},
		{"not json", 200, `<html>bad gateway</html>`, Verdict{}, ErrUnavailable},
		{"http 500", 500, `{"errcode":0,"result":{"suggest":"pass","label":100}}`, Verdict{}, ErrUnavailable},
		{"http 503", 503, `unavailable`, Verdict{}, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeWeChat(t, newFakeClock())
			fake.answerChecks(tt.status, tt.body)
			c := fake.newClient(t, fake.newTokens(t))
			got, err := c.CheckText(context.Background(), "o-user", "小明")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v; want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("verdict = %+v; want %+v", got, tt.want)
			}
			fake.assertNoSecrets(t, err)
			if n := fake.calls("/wxa/msg_sec_check"); n != 1 {
				t.Errorf("msg_sec_check calls = %d; want 1", n)
			}
		})
	}
}

func TestCheckErrorsNameTheErrcode(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	fake.answerChecks(200, `{"errcode":61010,"errmsg":"user visit record expired rid: 655d9278-7c157f97-69055077"}`)
	c := fake.newClient(t, fake.newTokens(t))
	_, err := c.CheckText(context.Background(), "o-user", "nick")
	if want := "msg_sec_check: errcode 61010 (rid 655d9278-7c157f97-69055077)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v; want it to contain %q", err, want)
	}
	_, err = c.CheckImageAsync(context.Background(), "o-user", "https://cdn.example.com/a.png")
	if want := "media_check_async: errcode 61010"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v; want it to contain %q", err, want)
	}
}

func TestCheckRequestShapes(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	bodies := map[string]map[string]any{}
	fake.checkAnswer = func(_ http.ResponseWriter, path string, body map[string]any) bool {
		bodies[path] = body
		return false
	}
	ts := fake.newTokens(t)
	c := fake.newClient(t, ts)
	ctx := context.Background()
	const content = `<b>小明</b> & "co"`
	if _, err := c.CheckText(ctx, "o-user", content); err != nil {
		t.Fatal(err)
	}
	const media = "https://cdn.example.com/avatars/a.png?v=2&x=y"
	trace, err := c.CheckImageAsync(ctx, "o-user", media)
	if err != nil {
		t.Fatal(err)
	}
	if trace != "60ae120f-1ac6de6c-5c3ae2a9" {
		t.Errorf("trace id = %q; want the fake's", trace)
	}
	for path, want := range map[string]map[string]any{
		"/wxa/msg_sec_check":     {"version": 2.0, "openid": "o-user", "scene": 1.0, "content": content},
		"/wxa/media_check_async": {"media_url": media, "media_type": 2.0, "version": 2.0, "scene": 1.0, "openid": "o-user"},
	} {
		got := bodies[path]
		if len(got) != len(want) {
			t.Errorf("%s body = %v; want %v", path, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s body %s = %#v; want %#v", path, k, got[k], v)
			}
		}
	}
	// The fake refuses tokens it did not issue, so both calls carried the
	// token in the query string; it reports one in the body as a failure.
	if _, rejected := fake.counts(); rejected != 0 {
		t.Errorf("tokens rejected = %d; want 0", rejected)
	}
}

func TestCheckImageAsyncErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr error
	}{
		{"user inactive", 200, `{"errcode":61010,"errmsg":"user visit record expired"}`, ErrUserInactive},
		{"busy", 200, `{"errcode":-1,"errmsg":"system error"}`, ErrUnavailable},
		{"bad scene", 200, `{"errcode":40129,"errmsg":"invalid scene"}`, ErrRefused},
		{"no trace id", 200, `{"errcode":0,"errmsg":"ok"}`, ErrUnavailable},
		{"not json", 200, `oops`, ErrUnavailable},
		{"http 502", 502, `{"errcode":0,"trace_id":"t"}`, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeWeChat(t, newFakeClock())
			fake.answerChecks(tt.status, tt.body)
			c := fake.newClient(t, fake.newTokens(t))
			trace, err := c.CheckImageAsync(context.Background(), "o-user", "https://cdn.example.com/a.png")
			if !errors.Is(err, tt.wantErr) || trace != "" {
				t.Fatalf("CheckImageAsync = %q, %v; want %v", trace, err, tt.wantErr)
			}
			fake.assertNoSecrets(t, err)
		})
	}
}

func TestCheckRetriesOnceWithAFreshToken(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	ts := fake.newTokens(t)
	c := fake.newClient(t, ts)
	ctx := context.Background()
	if _, err := ts.Token(ctx); err != nil {
		t.Fatal(err)
	}
	fake.forceRefresh() // someone else killed the cached token

	got, err := c.CheckText(ctx, "o-user", "nick")
	if err != nil || got.Suggest != SuggestPass {
		t.Fatalf("CheckText = %+v, %v; want a pass after one retry", got, err)
	}
	calls, rejected := fake.counts()
	if calls != 2 || rejected != 1 || fake.calls("/wxa/msg_sec_check") != 2 {
		t.Errorf("stable_token %d, rejected %d, msg_sec_check %d; want 2, 1, 2", calls, rejected, fake.calls("/wxa/msg_sec_check"))
	}

	fake.forceRefresh()
	if _, err := c.CheckImageAsync(ctx, "o-user", "https://cdn.example.com/a.png"); err != nil {
		t.Fatalf("CheckImageAsync after a force refresh: %v; want a trace id after one retry", err)
	}
	if calls, _ := fake.counts(); calls != 3 || fake.calls("/wxa/media_check_async") != 2 {
		t.Errorf("stable_token %d, media_check_async %d; want 3, 2", calls, fake.calls("/wxa/media_check_async"))
	}
}

func TestCheckDoesNotLoopOnInvalidTokens(t *testing.T) {
	for _, errcode := range []string{"40001", "42001", "40014"} {
		t.Run(errcode, func(t *testing.T) {
			fake := newFakeWeChat(t, newFakeClock())
			// WeChat refuses every token, even the fresh one.
			fake.answerChecks(200, `{"errcode":`+errcode+`,"errmsg":"invalid credential"}`)
			c := fake.newClient(t, fake.newTokens(t))
			_, err := c.CheckText(context.Background(), "o-user", "nick")
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "errcode "+errcode) {
				t.Fatalf("err = %v; want ErrUnavailable naming errcode %s", err, errcode)
			}
			fake.assertNoSecrets(t, err)
			calls, _ := fake.counts()
			if checks := fake.calls("/wxa/msg_sec_check"); calls != 2 || checks != 2 {
				t.Errorf("stable_token %d, msg_sec_check %d; want 2, 2 (one refetch, one retry)", calls, checks)
			}
		})
	}
}

func TestCheckManyCallersRefetchOnceAfterForceRefresh(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	ts := fake.newTokens(t)
	c := fake.newClient(t, ts)
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	fake.forceRefresh()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := c.CheckText(context.Background(), "o-user", "nick"); err != nil {
				t.Errorf("CheckText: %v", err)
			}
		})
	}
	wg.Wait()
	if calls, _ := fake.counts(); calls != 2 {
		t.Errorf("stable_token calls = %d; want 2 (the first fetch and one refetch)", calls)
	}
}

func TestTwoInstancesShareOneToken(t *testing.T) {
	clock := newFakeClock()
	fake := newFakeWeChat(t, clock)
	tsA, tsB := fake.newTokens(t), fake.newTokens(t)
	a, b := fake.newClient(t, tsA), fake.newClient(t, tsB)
	ctx := context.Background()
	check := func(name string, c *Client) {
		t.Helper()
		if _, err := c.CheckText(ctx, "o-user", "nick"); err != nil {
			t.Fatalf("instance %s at +%v: %v", name, clock.Now().Sub(newFakeClock().Now()), err)
		}
	}
	token := func(ts *Tokens) string {
		t.Helper()
		tok, err := ts.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	check("A", a) // A gets the first token (7200 s)
	clock.Advance(time.Hour)
	check("B", b) // B gets the same token (3600 s left)
	if token(tsA) != token(tsB) {
		t.Fatal("the instances hold different tokens in normal mode")
	}
	clock.Advance(53 * time.Minute) // 7 min left
	check("A", a)
	check("B", b)
	first := token(tsA)
	clock.Advance(2*time.Minute + 10*time.Second) // 4 min 50 s left: both renew into the overlap
	check("A", a)
	check("B", b)
	if token(tsA) != token(tsB) || token(tsA) == first {
		t.Error("the instances did not both move to the renewed token")
	}
	clock.Advance(5 * time.Minute) // the first token is gone
	check("A", a)
	check("B", b)

	calls, rejected := fake.counts()
	if rejected != 0 {
		t.Errorf("WeChat refused %d tokens; want 0: instances must not invalidate each other", rejected)
	}
	if calls != 4 {
		t.Errorf("stable_token calls = %d; want 4 (a first fetch and a renewal per instance)", calls)
	}
}

func TestTwoInstancesRenewingAtDifferentTimes(t *testing.T) {
	clock := newFakeClock()
	fake := newFakeWeChat(t, clock)
	tsA, tsB := fake.newTokens(t), fake.newTokens(t)
	a, b := fake.newClient(t, tsA), fake.newClient(t, tsB)
	ctx := context.Background()
	check := func(c *Client) {
		t.Helper()
		if _, err := c.CheckText(ctx, "o-user", "nick"); err != nil {
			t.Fatal(err)
		}
	}
	// A gets the first token for 7200 s; with 400 s left B gets the same
	// one, expires_in 400, and will renew with 200 s left.
	check(a)
	clock.Advance(2*time.Hour - 6*time.Minute - 40*time.Second)
	check(b)
	// With 290 s left A renews and WeChat issues the second token; B
	// stays on the first, which still works in the overlap.
	clock.Advance(110 * time.Second)
	check(a)
	check(b)
	tokA, _ := tsA.Token(ctx)
	tokB, _ := tsB.Token(ctx)
	if tokA == tokB {
		t.Fatal("want the instances on different tokens during the overlap")
	}
	clock.Advance(100 * time.Second) // 190 s left: B renews and gets the second token
	check(b)
	if tokB, _ = tsB.Token(ctx); tokA != tokB {
		t.Error("B did not move to A's renewed token")
	}
	if _, rejected := fake.counts(); rejected != 0 {
		t.Errorf("WeChat refused %d tokens; want 0", rejected)
	}
}

func TestCheckTimeoutDoesNotLeakToken(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	release := make(chan struct{})
	defer close(release)
	fake.checkAnswer = func(http.ResponseWriter, string, map[string]any) bool {
		<-release
		return true
	}
	c, err := NewClient(fake.server.URL, fake.newTokens(t), &http.Client{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range []func() error{
		func() error { _, err := c.CheckText(context.Background(), "o-user", "nick"); return err },
		func() error {
			_, err := c.CheckImageAsync(context.Background(), "o-user", "https://cdn.example.com/a.png")
			return err
		},
	} {
		err := call()
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("err = %v; want ErrUnavailable: timeout", err)
		}
		fake.assertNoSecrets(t, err)
		if strings.Contains(err.Error(), "access_token") || strings.Contains(err.Error(), fake.server.URL) {
			t.Errorf("error %q carries the URL", err)
		}
	}
}

func TestCheckPassesTokenErrorsOn(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	fake.secret = "SECRET-after-reset"
	c := fake.newClient(t, fake.newTokens(t))
	_, err := c.CheckText(context.Background(), "o-user", "nick")
	if !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("err = %v; want ErrBadCredentials", err)
	}
	fake.assertNoSecrets(t, err)
	if n := fake.calls("/wxa/msg_sec_check"); n != 0 {
		t.Errorf("msg_sec_check calls = %d without a token; want 0", n)
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	ts, err := NewTokens("https://api.weixin.qq.com", "a", "s", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{"", "ftp://x", "https://"} {
		if _, err := NewClient(base, ts, nil); err == nil {
			t.Errorf("NewClient(%q) accepted a bad base", base)
		}
	}
	if _, err := NewClient("https://api.weixin.qq.com", nil, nil); err == nil {
		t.Error("NewClient accepted a nil token source")
	}
}
