package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/localcos"
)

type faultyRig struct {
	srv    *running
	c      client
	faults *localcos.Faults
	dbPath string
}

// startFaulty runs the production configuration against a local object
// server with fault injection and a WeChat that can be slow or broken, with
// short timeouts so that each failure shows within a bounded time.
func startFaulty(t *testing.T, provider string) *faultyRig {
	t.Helper()
	var faults *localcos.Faults
	store := newTestStore(t, provider, localcos.Config{}, func(h http.Handler) http.Handler {
		faults = localcos.NewFaults(h.(*localcos.Server))
		return faults
	})
	wechat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch code := r.URL.Query().Get("js_code"); code {
		case "slow":
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		case "drop":
			panic(http.ErrAbortHandler)
		default:
			fmt.Fprintf(w, `{"openid":"openid-%s","session_key":"k"}`, code)
		}
	}))
	t.Cleanup(wechat.Close)
	dbPath := filepath.Join(t.TempDir(), "faults.db")
	srv := start(t, []string{"serve", "--env-file", ""}, store.env(serverEnv(wechat.URL, "", "sqlite:"+dbPath+"?busy_timeout=200ms", map[string]string{
		"WECHAT_TIMEOUT": "300ms", "COS_TIMEOUT": "300ms",
		"LIMIT_PENDING_UPLOADS": "0", "LIMIT_UPLOADS_PER_MINUTE": "0", "LIMIT_SESSIONS_PER_MINUTE": "0",
		"CONTENT_SECURITY": "off", // this fake WeChat knows only code2Session
	})))
	return &faultyRig{srv: srv, c: client{t: t, base: srv.api}, faults: faults, dbPath: dbPath}
}

func (r *faultyRig) uploaded(t *testing.T, token string) signedUpload {
	t.Helper()
	up := r.c.newUpload(token, "image/png")
	if got := postForm(t, up, testImage(t, "png"), nil); got.status != 204 {
		t.Fatalf("upload: %+v", got)
	}
	return up
}

func timed(f func() reply) (reply, time.Duration) {
	start := time.Now()
	r := f()
	return r, time.Since(start)
}

func TestStorageFaults(t *testing.T) {
	for _, provider := range testProviders {
		t.Run(provider, func(t *testing.T) { testStorageFaults(t, provider) })
	}
}

func testStorageFaults(t *testing.T, provider string) {
	rig := startFaulty(t, provider)
	token := rig.c.login("alice")
	up := rig.uploaded(t, token)
	for name, cfg := range map[string]localcos.FaultConfig{
		"slow":    {Latency: 2 * time.Second},
		"5xx":     {ErrorRate: 1},
		"dropped": {DropRate: 1},
	} {
		rig.faults.Set(cfg)
		r, took := timed(func() reply { return rig.c.confirm(token, up.ID) })
		if r.status != 503 || r.code() != "storage_unavailable" {
			t.Errorf("%s storage: confirm %d %q; want 503 storage_unavailable", name, r.status, r.code())
		}
		if took > 3*time.Second {
			t.Errorf("%s storage: confirm took %s; want it bounded well inside 10 s", name, took)
		}
		if me := rig.c.call("GET", "/v1/me", token, ""); decodeAs[userReply](t, me).User.AvatarURL != nil {
			t.Errorf("%s storage: something was recorded: %s", name, me.raw)
		}
	}
	rig.faults.Set(localcos.FaultConfig{})
	if r := rig.c.confirm(token, up.ID); r.status != 200 {
		t.Errorf("retry after storage recovered: %d %s; want 200", r.status, r.raw)
	}
}

func TestWeChatFaults(t *testing.T) {
	rig := startFaulty(t, providerCOS)
	for _, code := range []string{"slow", "drop"} {
		r, took := timed(func() reply { return rig.c.call("POST", "/v1/session", "", `{"code":"`+code+`"}`) })
		if r.status != 502 || r.code() != "wechat_unavailable" {
			t.Errorf("wechat %s: %d %q; want 502 wechat_unavailable", code, r.status, r.code())
		}
		if took > 2*time.Second {
			t.Errorf("wechat %s: took %s; want it bounded by WECHAT_TIMEOUT", code, took)
		}
	}
}

// TestDatabaseBusy holds SQLite's write lock from another connection, as a
// stuck writer would: requests answer 503 and write nothing, and succeed
// once the lock is gone.
func TestDatabaseBusy(t *testing.T) {
	rig := startFaulty(t, providerCOS)
	token := rig.c.login("bob")
	up := rig.uploaded(t, token)
	locker, err := sql.Open("sqlite", rig.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	tx, err := locker.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE users SET nickname = nickname`); err != nil { // takes the write lock
		t.Fatal(err)
	}
	for name, call := range map[string]func() reply{
		"patch me": func() reply { return rig.c.call("PATCH", "/v1/me", token, `{"nickname":"Bob"}`) },
		"confirm":  func() reply { return rig.c.confirm(token, up.ID) },
	} {
		r, took := timed(call)
		if r.status != 503 || r.code() != "database_unavailable" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s with the database locked: %d %q; want 503 database_unavailable with Retry-After", name, r.status, r.code())
		}
		if took > 3*time.Second {
			t.Errorf("%s: took %s", name, took)
		}
	}
	tx.Rollback()
	me := rig.c.call("GET", "/v1/me", token, "")
	if u := decodeAs[userReply](t, me).User; u.Nickname != "" || u.AvatarURL != nil {
		t.Errorf("a refused request wrote something: %s", me.raw)
	}
	if r := rig.c.confirm(token, up.ID); r.status != 200 {
		t.Errorf("confirm after the lock: %d %s", r.status, r.raw)
	}
	if r := rig.c.call("PATCH", "/v1/me", token, `{"nickname":"Bob"}`); r.status != 200 {
		t.Errorf("patch after the lock: %d %s", r.status, r.raw)
	}
}

// TestShutdownDrains: a request in flight when SIGTERM arrives still gets its
// answer; run then returns cleanly and the port closes.
func TestShutdownDrains(t *testing.T) {
	rig := startFaulty(t, providerCOS)
	token := rig.c.login("carol")
	up := rig.uploaded(t, token)
	rig.faults.Set(localcos.FaultConfig{Latency: 120 * time.Millisecond}) // slow, within COS_TIMEOUT
	answer := make(chan reply, 1)
	go func() { answer <- rig.c.confirm(token, up.ID) }()
	time.Sleep(60 * time.Millisecond) // the confirm is now waiting on storage
	if err := rig.srv.stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	select {
	case r := <-answer:
		if r.status != 200 {
			t.Errorf("in-flight confirm: %d %s; want 200", r.status, r.raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request never answered")
	}
	if _, err := http.Get(rig.srv.api + "/healthz"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("after shutdown: %v; want connection refused", err)
	}
}

// TestSIGTERMStopsCleanly: the signal a service manager sends ends run with
// no error, after the listeners close (were it not handled, it would kill
// the test process).
func TestSIGTERMStopsCleanly(t *testing.T) {
	rig := startFaulty(t, providerCOS)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the listener to close", func() bool {
		_, err := http.Get(rig.srv.api + "/healthz")
		return err != nil
	})
	if err := rig.srv.stop(); err != nil {
		t.Errorf("run after SIGTERM: %v; want nil", err)
	}
	if !strings.Contains(rig.srv.stderr.String(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown logged: %s", rig.srv.stderr)
	}
}

// TestContentSecuritySlow: a WeChat that does not answer the nickname check
// costs at most WECHAT_TIMEOUT: 503 moderation_unavailable, nothing saved;
// with CONTENT_SECURITY_FAIL_OPEN the nickname is saved unchecked.
func TestContentSecuritySlow(t *testing.T) {
	wechat := fakeWeChat(t, testAppID, testAppSecret)
	cosSrv := httptest.NewServer(newTestCOS(t, localcos.Config{}))
	t.Cleanup(cosSrv.Close)
	for _, failOpen := range []string{"false", "true"} {
		srv := start(t, []string{"serve", "--env-file", ""}, serverEnv(wechat.URL, cosSrv.URL, "sqlite:"+filepath.Join(t.TempDir(), "slow.db"), map[string]string{
			"WECHAT_TIMEOUT": "300ms", "CONTENT_SECURITY_FAIL_OPEN": failOpen,
		}))
		c := client{t: t, base: srv.api}
		token := c.login("code-sally")
		r, took := timed(func() reply { return c.call("PUT", "/v1/me", token, `{"nickname":"slowcheck"}`) })
		if took > 2*time.Second {
			t.Errorf("fail open %s: the nickname took %s; want it bounded by WECHAT_TIMEOUT", failOpen, took)
		}
		saved := decodeAs[userReply](t, c.call("GET", "/v1/me", token, "")).User.Nickname
		switch failOpen {
		case "false":
			if r.status != 503 || r.code() != "moderation_unavailable" || saved != "" {
				t.Errorf("failing closed: %d %q, saved %q; want 503 moderation_unavailable, nothing saved", r.status, r.code(), saved)
			}
		case "true":
			if r.status != 200 || saved != "slowcheck" {
				t.Errorf("failing open: %d %s, saved %q; want 200 and the nickname saved", r.status, r.raw, saved)
			}
		}
		if err := srv.stop(); err != nil {
			t.Fatal(err)
		}
	}
}
