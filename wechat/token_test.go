package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAppID  = "wxtestappid"
	testSecret = "SECRET-d41d8cd98f00b204"
)

// fakeClock is the clock every test passes in; only Advance moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeWeChat serves stable_token in normal mode (the same token while
// valid, a new one from 5 minutes before expiry, both honoured in the
// overlap), msg_sec_check and media_check_async, on loopback.
type fakeWeChat struct {
	t      *testing.T
	clock  *fakeClock
	server *httptest.Server

	mu              sync.Mutex
	secret          string
	seq             int
	cur, prev       string
	curExp, prevExp time.Time
	tokenCalls      int
	checkCalls      map[string]int // by path
	rejectedTokens  int            // answers 40001
	issued          []string       // every token ever issued, for leak checks

	// gate, when set, holds stable_token requests until closed (hold,
	// release).
	gate chan struct{}
	// tokenAnswer, when set, answers stable_token instead of normal mode.
	tokenAnswer func(w http.ResponseWriter)
	// checkAnswer, when set, answers a check call made with a valid token;
	// body is the decoded request. It returns false to use the default answer.
	checkAnswer func(w http.ResponseWriter, path string, body map[string]any) bool
}

func newFakeWeChat(t *testing.T, clock *fakeClock) *fakeWeChat {
	t.Helper()
	f := &fakeWeChat{t: t, clock: clock, secret: testSecret, checkCalls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cgi-bin/stable_token", f.stableToken)
	mux.HandleFunc("POST /wxa/msg_sec_check", f.check)
	mux.HandleFunc("POST /wxa/media_check_async", f.check)
	f.server = httptest.NewServer(mux)
	// Close waits for the handlers, so a held stable_token is let go first.
	t.Cleanup(func() {
		f.release()
		f.server.Close()
	})
	return f
}

// hold makes stable_token requests wait until release, or the end of the
// test.
func (f *fakeWeChat) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
}

// release lets held stable_token requests answer; it may be called again.
func (f *fakeWeChat) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

// setTokenAnswer replaces normal mode for stable_token (nil restores it).
func (f *fakeWeChat) setTokenAnswer(answer func(w http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenAnswer = answer
}

func (f *fakeWeChat) newToken() string {
	f.seq++
	tok := fmt.Sprintf("TOKEN%03d_%s", f.seq, strings.Repeat("Zq9", 20))
	f.issued = append(f.issued, tok)
	return tok
}

func (f *fakeWeChat) stableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh *bool  `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.t.Errorf("stable_token body: %v", err)
		writeJSON(w, `{"errcode":40002,"errmsg":"invalid grant_type"}`)
		return
	}
	if req.ForceRefresh == nil || *req.ForceRefresh {
		f.t.Errorf("stable_token force_refresh = %v; want an explicit false", req.ForceRefresh)
	}
	f.mu.Lock()
	f.tokenCalls++
	gate, answer := f.gate, f.tokenAnswer
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if answer != nil {
		answer(w)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case req.GrantType != "client_credential":
		writeJSON(w, `{"errcode":40002,"errmsg":"invalid grant_type rid: 64b09fbb-56b7faa9-1054a9fe"}`)
		return
	case req.AppID != testAppID:
		writeJSON(w, `{"errcode":40013,"errmsg":"invalid appid"}`)
		return
	case req.Secret != f.secret:
		writeJSON(w, `{"errcode":40125,"errmsg":"invalid appsecret rid: 655d9278-7c157f97-69055077"}`)
		return
	}
	now := f.clock.Now()
	if f.cur == "" || !now.Before(f.curExp.Add(-5*time.Minute)) {
		f.prev, f.prevExp = f.cur, f.curExp
		f.cur, f.curExp = f.newToken(), now.Add(2*time.Hour)
	}
	writeJSON(w, fmt.Sprintf(`{"access_token":%q,"expires_in":%d}`, f.cur, int(f.curExp.Sub(now)/time.Second)))
}

// forceRefresh is what another party's force_refresh does: a new token at
// once, the old one dead.
func (f *fakeWeChat) forceRefresh() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prev = ""
	f.cur, f.curExp = f.newToken(), f.clock.Now().Add(2*time.Hour)
}

func (f *fakeWeChat) valid(tok string) bool {
	now := f.clock.Now()
	return tok != "" && (tok == f.cur && now.Before(f.curExp) || tok == f.prev && now.Before(f.prevExp))
}

func (f *fakeWeChat) check(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("%s body: %v", r.URL.Path, err)
		writeJSON(w, `{"errcode":47001,"errmsg":"data format error"}`)
		return
	}
	if _, ok := body["access_token"]; ok {
		f.t.Errorf("%s: access_token in the body", r.URL.Path)
	}
	f.mu.Lock()
	f.checkCalls[r.URL.Path]++
	if !f.valid(r.URL.Query().Get("access_token")) {
		f.rejectedTokens++
		f.mu.Unlock()
		writeJSON(w, `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest"}`)
		return
	}
	answer := f.checkAnswer
	f.mu.Unlock()
	if answer != nil && answer(w, r.URL.Path, body) {
		return
	}
	if r.URL.Path == "/wxa/media_check_async" {
		writeJSON(w, `{"errcode":0,"errmsg":"ok","trace_id":"60ae120f-1ac6de6c-5c3ae2a9"}`)
		return
	}
	writeJSON(w, `{"errcode":0,"errmsg":"ok","trace_id":"689cadcd-1957d810-20bdb7c8","result":{"suggest":"pass","label":100}}`)
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.Write([]byte(body))
}

func (f *fakeWeChat) counts() (tokenCalls, rejected int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls, f.rejectedTokens
}

// newTokens builds Tokens whose background renewal runs before Token
// returns, so that a test about something else (two instances renewing into
// the overlap) sees it land without waiting for it. The caller that starts
// the renewal still gets the cached token.
func (f *fakeWeChat) newTokens(t *testing.T) *Tokens {
	t.Helper()
	ts, err := NewTokens(f.server.URL, testAppID, testSecret, f.server.Client(), f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ts.background = func(run func()) { run() }
	return ts
}

// newBackgroundTokens builds Tokens that renew in the background as in
// production. The test's cleanup lets WeChat answer and waits for every
// background renewal before the fake closes, so none outlives the test.
func (f *fakeWeChat) newBackgroundTokens(t *testing.T) *Tokens {
	t.Helper()
	ts, err := NewTokens(f.server.URL, testAppID, testSecret, f.server.Client(), f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ts.background = func(run func()) { wg.Go(run) }
	// Cleanups run last-registered first: this one before the fake closes.
	t.Cleanup(func() {
		f.release()
		wg.Wait()
	})
	return ts
}

// waitRenewal waits for the renewal under way, if any, to land.
func waitRenewal(t *testing.T, ts *Tokens) {
	t.Helper()
	ts.mu.Lock()
	f := ts.inflight
	ts.mu.Unlock()
	if f == nil {
		return
	}
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the renewal did not land within 5 s")
	}
}

// waitTokenCalls waits until WeChat has been asked for a token n times.
func (f *fakeWeChat) waitTokenCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls, _ := f.counts()
		if calls >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stable_token calls = %d after 5 s; want %d", calls, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// assertNoSecrets fails when err's text carries the AppSecret or any token
// the fake issued.
func (f *fakeWeChat) assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range append([]string{testSecret, f.secret}, f.issued...) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks a secret or token", err)
		}
	}
}

func TestTokensOneFetchInFlight(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	fake.hold()
	ts := fake.newTokens(t)

	const callers = 50
	var wg sync.WaitGroup
	got := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { got[i], errs[i] = ts.Token(context.Background()) })
	}
	time.Sleep(5 * time.Millisecond) // let the callers pile up behind the fetch
	fake.release()
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || got[i] != got[0] || got[0] == "" {
			t.Fatalf("caller %d got %q, %v; want %q", i, got[i], errs[i], got[0])
		}
	}
	if calls, _ := fake.counts(); calls != 1 {
		t.Errorf("stable_token calls = %d; want 1", calls)
	}
}

func TestTokensRenewBeforeExpiry(t *testing.T) {
	clock := newFakeClock()
	fake := newFakeWeChat(t, clock)
	ts := fake.newBackgroundTokens(t)
	ctx := context.Background()

	first, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2*time.Hour - 5*time.Minute - time.Second)
	if tok, err := ts.Token(ctx); tok != first || err != nil {
		t.Fatalf("just before the renewal: %q, %v; want the first token", tok, err)
	}
	if calls, _ := fake.counts(); calls != 1 {
		t.Fatalf("stable_token calls = %d; want 1 while the token is fresh", calls)
	}
	clock.Advance(2 * time.Second)
	// Due: the caller gets the cached token, and the renewal it starts
	// does not end with the caller's context.
	fake.hold()
	callerCtx, cancel := context.WithCancel(ctx)
	tok, err := ts.Token(callerCtx)
	cancel()
	if tok != first || err != nil {
		t.Fatalf("renewal due: %q, %v; want the cached token at once", tok, err)
	}
	fake.release()
	waitRenewal(t, ts)
	second, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Error("token not renewed 5 minutes before expiry")
	}
	if calls, _ := fake.counts(); calls != 2 {
		t.Errorf("stable_token calls = %d; want 2", calls)
	}
}

func TestTokensRenewalDoesNotHoldCallers(t *testing.T) {
	clock := newFakeClock()
	fake := newFakeWeChat(t, clock)
	ts := fake.newBackgroundTokens(t)
	first, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// From here WeChat answers only after the test is over.
	fake.hold()
	clock.Advance(2*time.Hour - 4*time.Minute) // due, 4 min left
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	const callers = 50
	var wg sync.WaitGroup
	got := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { got[i], errs[i] = ts.Token(ctx) })
	}
	wg.Wait()
	for i := range callers {
		if got[i] != first || errs[i] != nil {
			t.Fatalf("caller %d during the renewal: %q, %v; want the cached token at once", i, got[i], errs[i])
		}
	}
	canceled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if tok, err := ts.Token(canceled); tok != first || err != nil {
		t.Errorf("canceled caller during the renewal: %q, %v; want the cached token", tok, err)
	}

	fake.waitTokenCalls(t, 2)
	time.Sleep(10 * time.Millisecond) // room for a second renewal, if one was started
	if calls, _ := fake.counts(); calls != 2 {
		t.Errorf("stable_token calls = %d; want 2 (one background renewal for all callers)", calls)
	}
}

func TestTokensExpiredTokenWaitsForTheFetch(t *testing.T) {
	clock := newFakeClock()
	fake := newFakeWeChat(t, clock)
	ts := fake.newBackgroundTokens(t)
	first, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	clock.Advance(2*time.Hour - expirySlack) // no longer handed out
	fake.hold()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if tok, err := ts.Token(ctx); !errors.Is(err, ErrUnavailable) || tok != "" {
		t.Fatalf("expired, WeChat slow, caller's deadline passed: %q, %v; want ErrUnavailable", tok, err)
	}

	type result struct {
		tok string
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := ts.Token(context.Background())
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("expired: %q, %v before WeChat answered; want the caller to wait", r.tok, r.err)
	case <-time.After(20 * time.Millisecond):
	}
	fake.release()
	if r := <-done; r.err != nil || r.tok == "" || r.tok == first {
		t.Fatalf("expired: %q, %v; want a new token", r.tok, r.err)
	}
	if calls, _ := fake.counts(); calls != 2 {
		t.Errorf("stable_token calls = %d; want 2 (the waiters share one fetch)", calls)
	}
}

func TestTokensShortLifetimeIsNotRefetchedInALoop(t *testing.T) {
	clock := newFakeClock()
	fake := newFakeWeChat(t, clock)
	// In the overlap window WeChat may answer a token with 300 s left.
	fake.tokenAnswer = func(w http.ResponseWriter) {
		writeJSON(w, `{"access_token":"TOKEN_short_lived","expires_in":300}`)
	}
	ts := fake.newBackgroundTokens(t)
	ctx := context.Background()
	for _, step := range []time.Duration{0, 100 * time.Second, 49 * time.Second} {
		clock.Advance(step)
		for range 100 {
			if _, err := ts.Token(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if calls, _ := fake.counts(); calls != 1 {
		t.Fatalf("stable_token calls = %d after 149 s of a 300 s token; want 1", calls)
	}
	clock.Advance(2 * time.Second)
	for range 100 {
		if _, err := ts.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitRenewal(t, ts)
	if calls, _ := fake.counts(); calls != 2 {
		t.Errorf("stable_token calls = %d after 151 s; want 2", calls)
	}
}

func TestTokensInvalidate(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	ts := fake.newBackgroundTokens(t)
	ctx := context.Background()
	first, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	ts.Invalidate("TOKEN_some_older_one")
	ts.Invalidate("")
	if tok, _ := ts.Token(ctx); tok != first {
		t.Errorf("after invalidating another token: %q; want the cached %q", tok, first)
	}
	if calls, _ := fake.counts(); calls != 1 {
		t.Errorf("stable_token calls = %d after invalidating another token; want 1", calls)
	}

	fake.forceRefresh()
	ts.Invalidate(first)
	// The invalidated token is not served while WeChat is slow: callers wait.
	fake.hold()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if tok, err := ts.Token(short); !errors.Is(err, ErrUnavailable) || tok != "" {
		t.Fatalf("after Invalidate, WeChat slow: %q, %v; want ErrUnavailable", tok, err)
	}
	fake.release()
	second, err := ts.Token(ctx)
	if err != nil || second == first {
		t.Fatalf("after Invalidate: %q, %v; want a new token", second, err)
	}
	if calls, _ := fake.counts(); calls != 2 {
		t.Errorf("stable_token calls = %d after Invalidate; want 2", calls)
	}
}

func TestTokensErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr error
	}{
		{"invalid appid", 200, `{"errcode":40013,"errmsg":"invalid appid"}`, ErrBadCredentials},
		{"invalid secret", 200, `{"errcode":40125,"errmsg":"invalid appsecret"}`, ErrBadCredentials},
		{"wrong secret", 200, `{"errcode":40001,"errmsg":"invalid credential"}`, ErrBadCredentials},
		{"secret frozen", 200, `{"errcode":40243,"errmsg":"AppSecret is frozen"}`, ErrBadCredentials},
		{"busy", 200, `{"errcode":-1,"errmsg":"system error"}`, ErrUnavailable},
		{"rate limited", 200, `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, ErrUnavailable},
		{"ip not allowed", 200, `{"errcode":40164,"errmsg":"invalid ip 1.2.3.4, not in whitelist"}`, ErrUnavailable},
		{"not json", 200, `<html>502 Bad Gateway</html>`, ErrUnavailable},
		{"http 500", 500, `{"access_token":"TOKEN_x","expires_in":7200}`, ErrUnavailable},
		{"http 502", 502, `bad gateway`, ErrUnavailable},
		{"no token", 200, `{"expires_in":7200}`, ErrUnavailable},
		{"no lifetime", 200, `{"access_token":"TOKEN_x"}`, ErrUnavailable},
		{"negative lifetime", 200, `{"access_token":"TOKEN_x","expires_in":-5}`, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeWeChat(t, newFakeClock())
			fake.tokenAnswer = func(w http.ResponseWriter) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}
			ts := fake.newTokens(t)
			tok, err := ts.Token(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v; want %v", err, tt.wantErr)
			}
			if tok != "" {
				t.Errorf("token = %q with an error; want none", tok)
			}
			fake.assertNoSecrets(t, err)
		})
	}
}

func TestTokensErrorNamesRequestID(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	fake.secret = "SECRET-after-reset"
	_, err := fake.newTokens(t).Token(context.Background())
	if !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("err = %v; want ErrBadCredentials", err)
	}
	if want := "stable_token: errcode 40125 (rid 655d9278-7c157f97-69055077)"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q; want it to contain %q", err, want)
	}
	fake.assertNoSecrets(t, err)
}

func TestTokensTimeout(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	release := make(chan struct{})
	defer close(release)
	fake.tokenAnswer = func(w http.ResponseWriter) { <-release }
	ts, err := NewTokens(fake.server.URL, testAppID, testSecret, &http.Client{Timeout: 20 * time.Millisecond}, fake.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token(context.Background())
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err = %v; want ErrUnavailable: timeout", err)
	}
	fake.assertNoSecrets(t, err)
}

func TestTokensCallerGivesUpWithoutStoppingTheFetch(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	fake.hold()
	ts := fake.newTokens(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ts.Token(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("canceled caller: err = %v; want ErrUnavailable", err)
	}
	fake.release()
	tok, err := ts.Token(context.Background())
	if err != nil || tok == "" {
		t.Fatalf("next caller: %q, %v; want the token", tok, err)
	}
	if calls, _ := fake.counts(); calls != 1 {
		t.Errorf("stable_token calls = %d; want 1 (the canceled caller's fetch serves the next)", calls)
	}
}

func TestTokensKeepValidTokenWhileRenewalFails(t *testing.T) {
	clock := newFakeClock()
	fake := newFakeWeChat(t, clock)
	ts := fake.newBackgroundTokens(t)
	ctx := context.Background()
	first, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	fake.setTokenAnswer(func(w http.ResponseWriter) { writeJSON(w, `{"errcode":-1,"errmsg":"system error"}`) })
	clock.Advance(2*time.Hour - 4*time.Minute) // due for renewal, 4 min left
	served := func(when string) {
		t.Helper()
		for range 10 {
			if tok, err := ts.Token(ctx); tok != first || err != nil {
				t.Fatalf("%s: %q, %v; want the still valid token", when, tok, err)
			}
		}
	}
	served("renewal failing")
	waitRenewal(t, ts)
	served("renewal failed")
	if calls, _ := fake.counts(); calls != 2 {
		t.Errorf("stable_token calls = %d; want 2 (one failed renewal, then a pause)", calls)
	}
	clock.Advance(retryAfterFailure - time.Second)
	served("renewal failed, pausing")
	waitRenewal(t, ts)
	if calls, _ := fake.counts(); calls != 2 {
		t.Errorf("stable_token calls = %d before the pause is over; want 2", calls)
	}
	clock.Advance(time.Second)
	served("second renewal failing")
	waitRenewal(t, ts)
	served("second renewal failed")
	if calls, _ := fake.counts(); calls != 3 {
		t.Errorf("stable_token calls = %d; want 3 after the pause", calls)
	}

	clock.Advance(4 * time.Minute) // expired
	if tok, err := ts.Token(ctx); !errors.Is(err, ErrUnavailable) || tok != "" {
		t.Errorf("expired and renewal failing: %q, %v; want ErrUnavailable", tok, err)
	}

	fake.setTokenAnswer(nil)
	if tok, err := ts.Token(ctx); err != nil || tok == first {
		t.Errorf("WeChat back: %q, %v; want a new token", tok, err)
	}
}

func TestTokensSetSecret(t *testing.T) {
	fake := newFakeWeChat(t, newFakeClock())
	fake.secret = "SECRET-after-reset"
	ts := fake.newTokens(t)
	ctx := context.Background()
	if _, err := ts.Token(ctx); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old secret: err = %v; want ErrBadCredentials", err)
	}
	if err := ts.SetSecret(""); err == nil {
		t.Error("SetSecret accepted an empty secret")
	}
	if err := ts.SetSecret("SECRET-after-reset"); err != nil {
		t.Fatal(err)
	}
	if tok, err := ts.Token(ctx); err != nil || tok == "" {
		t.Errorf("new secret: %q, %v; want a token", tok, err)
	}
}

func TestTokensRequestShape(t *testing.T) {
	var got *http.Request
	var body map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		json.NewDecoder(r.Body).Decode(&body)
		w.Write([]byte(`{"access_token":"TOKEN_shape","expires_in":7200}`))
	}))
	defer srv.Close()
	ts, err := NewTokens(srv.URL+"/", testAppID, `se"c&ret`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/cgi-bin/stable_token" || got.URL.RawQuery != "" {
		t.Errorf("request %s %s; want POST /cgi-bin/stable_token without a query", got.Method, got.URL)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	want := map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": `se"c&ret`, "force_refresh": false}
	if len(body) != len(want) {
		t.Errorf("body = %v; want %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body %s = %v; want %v", k, body[k], v)
		}
	}
}

func TestNewTokensRejectsBadConfig(t *testing.T) {
	for _, base := range []string{"", "ftp://x", "not a url", "https://"} {
		if _, err := NewTokens(base, "a", "s", nil, nil); err == nil {
			t.Errorf("NewTokens(%q) accepted a bad base", base)
		}
	}
	if _, err := NewTokens("https://api.weixin.qq.com", "", "s", nil, nil); err == nil {
		t.Error("NewTokens accepted an empty appid")
	}
	if _, err := NewTokens("https://api.weixin.qq.com", "a", "", nil, nil); err == nil {
		t.Error("NewTokens accepted an empty secret")
	}
}
