package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/db/dbtest"
	"github.com/wxavatar/wxavatar/localcos"
)

// TestTwoInstancesOnePostgres runs two wxavatar instances on one PostgreSQL
// database, as behind a load balancer.
func TestTwoInstancesOnePostgres(t *testing.T) {
	pgURL := dbtest.PostgresURL(t)
	local := newTestCOS(t, localcos.Config{})
	var mu sync.Mutex
	deletes := map[string]int{}
	cosSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			mu.Lock()
			deletes[strings.TrimPrefix(r.URL.Path, "/")]++
			mu.Unlock()
		}
		local.ServeHTTP(w, r)
	}))
	defer cosSrv.Close()
	wechat := fakeWeChat(t, testAppID, testAppSecret)
	env := serverEnv(wechat.URL, cosSrv.URL, pgURL, map[string]string{
		"LIMIT_UPLOADS_PER_MINUTE": "3", "LIMIT_PENDING_UPLOADS": "0", "LIMIT_SESSIONS_PER_MINUTE": "0",
		"SWEEP_INTERVAL": "100ms", "SWEEP_GRACE": "0s",
		// A replaced avatar is kept while a later one waits for its
		// verdict (review_test.go); here nothing waits.
		"CONTENT_SECURITY": "off",
	})
	a := client{t: t, base: start(t, []string{"serve", "--env-file", ""}, env).api}
	b := client{t: t, base: start(t, []string{"serve", "--env-file", ""}, env).api}

	// A session from one instance is good on the other.
	token := a.login("code-zoe")
	if r := b.call("GET", "/v1/me", token, ""); r.status != 200 {
		t.Fatalf("token from A on B: %d %s", r.status, r.raw)
	}

	// A first avatar, confirmed on B.
	first := a.newUpload(token, "image/png")
	if got := postForm(t, first, testImage(t, "png"), nil); got.status != 204 {
		t.Fatalf("upload: %+v", got)
	}
	if r := b.confirm(token, first.ID); r.status != 200 {
		t.Fatalf("confirm on B: %d %s", r.status, r.raw)
	}

	// The next one is confirmed on both at once: recorded once, same answer.
	jpeg := testImage(t, "jpeg")
	second := b.newSizedUpload(token, "image/jpeg", len(jpeg))
	if got := put(t, second, jpeg, ""); got.status != 200 {
		t.Fatalf("upload: %+v", got)
	}
	var wg sync.WaitGroup
	answers := make([]reply, 2)
	for i, c := range []client{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = c.confirm(token, second.ID) }()
	}
	wg.Wait()
	for i, r := range answers {
		if r.status != 200 {
			t.Fatalf("concurrent confirm %d: %d %s", i, r.status, r.raw)
		}
	}
	ua, ub := decodeAs[confirmReply](t, answers[0]).User, decodeAs[confirmReply](t, answers[1]).User
	if ua.avatarURL() != second.URL || ub.avatarURL() != second.URL || ua.UpdatedAt != ub.UpdatedAt {
		t.Errorf("the two confirms disagree: %s / %s", answers[0].raw, answers[1].raw)
	}

	// Both sweepers run every 100ms; the replaced first avatar is deleted
	// exactly once, the one in use never.
	waitFor(t, "the replaced avatar to be swept", func() bool {
		status, _ := download(t, first.URL)
		return status == 404
	})
	time.Sleep(500 * time.Millisecond) // several more rounds on both instances
	mu.Lock()
	firstAvatar, secondAvatar := strings.TrimPrefix(first.URL, cosSrv.URL+"/"), strings.TrimPrefix(second.URL, cosSrv.URL+"/")
	if deletes[firstAvatar] != 1 || deletes[secondAvatar] != 0 {
		t.Errorf("DELETEs: first avatar %d, avatar in use %d; want 1 and 0", deletes[firstAvatar], deletes[secondAvatar])
	}
	mu.Unlock()
	if status, body := download(t, second.URL); status != 200 || len(body) == 0 {
		t.Errorf("the avatar in use: %d", status)
	}

	// Rate limits hold across instances: 3 a minute, wherever they land.
	other := a.login("code-yan")
	for i, want := range []int{201, 201, 201, 429, 429} {
		c := []client{a, b}[i%2]
		r := c.call("POST", "/v1/avatar/uploads", other, `{"content_type":"image/png"}`)
		if r.status != want {
			t.Errorf("upload %d on instance %c: %d; want %d", i+1, "AB"[i%2], r.status, want)
		}
		if want == 429 && (r.code() != "rate_limited" || r.header.Get("Retry-After") != "20") {
			t.Errorf("limit answer: %q, Retry-After %q; want rate_limited, 20", r.code(), r.header.Get("Retry-After"))
		}
	}
}
