package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wxavatar/wxavatar/localcos"
)

// loadWorker runs the whole flow in a loop with plain net/http and counts
// every answer that is not the expected one.
type loadWorker struct {
	api, name, oldToken string
	png                 []byte
	iterations          atomic.Int64
	lastStartGen        atomic.Int64
}

// call sends one request and decodes the answer into out (nil: not read); a
// status other than want, or an answer out cannot hold, is an error.
func (w *loadWorker) call(method, path, token string, body []byte, want int, out any) error {
	req, _ := http.NewRequest(method, w.api+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: answer %s: %w", method, path, raw, err)
	}
	return nil
}

func (w *loadWorker) once() error {
	var session sessionReply
	if err := w.call("POST", "/v1/session", "", []byte(`{"code":"code-`+w.name+`"}`), 200, &session); err != nil {
		return err
	}
	token := session.Token
	var signed struct{ Upload signedUpload }
	if err := w.call("POST", "/v1/avatar/uploads", token, fmt.Appendf(nil, `{"content_type":"image/png","size":%d}`, len(w.png)), 201, &signed); err != nil {
		return err
	}
	up := signed.Upload
	req, _ := http.NewRequest(http.MethodPut, up.Put.URL, bytes.NewReader(w.png))
	for k, v := range up.Put.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("PUT: %d", resp.StatusCode)
	}
	if err := w.call("POST", "/v1/avatar/uploads/"+up.ID+"/confirm", token, nil, 200, nil); err != nil {
		return err
	}
	return w.call("GET", "/v1/me", w.oldToken, nil, 200, nil)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKeyRotationUnderLoad follows the README's operator runbook while four
// clients run the whole flow without pause, and asserts that not one request
// fails, on each storage provider.
func TestKeyRotationUnderLoad(t *testing.T) {
	for _, provider := range testProviders {
		t.Run(provider, func(t *testing.T) { testKeyRotationUnderLoad(t, provider) })
	}
}

// signingKeyID is the key id an upload's POST form was signed with: COS's
// q-ak, the first part of OSS's x-oss-credential or S3's x-amz-credential.
func signingKeyID(u signedUpload) string {
	if ak := u.Post.Form["q-ak"]; ak != "" {
		return ak
	}
	for _, name := range []string{"x-oss-credential", "x-amz-credential"} {
		if cred := u.Post.Form[name]; cred != "" {
			id, _, _ := strings.Cut(cred, "/")
			return id
		}
	}
	return ""
}

func testKeyRotationUnderLoad(t *testing.T, provider string) {
	old := localcos.Key{SecretID: "AKIDrotationOld000000000000000000", SecretKey: "old-secret-key-000000000000000000"}
	next := localcos.Key{SecretID: "AKIDrotationNew111111111111111111", SecretKey: "new-secret-key-111111111111111111"}
	const oldJWT, newJWT = "old:old-jwt-secret-0123456789abcdef0123", "new:new-jwt-secret-0123456789abcdef0123"

	// The local object server plays the provider: its identity service
	// (CAM, RAM, IAM) decides which keys it accepts.
	var cam atomic.Pointer[[]localcos.Key]
	cam.Store(&[]localcos.Key{old})
	store := newTestStore(t, provider, localcos.Config{
		Credentials: func() []localcos.Key { return *cam.Load() },
	}, nil)
	wechat := fakeWeChat(t, "wxrot", "wxrotsecret")

	// The provider's key id in .env, its secret in a file.
	sp := storageProviders[provider]
	dir := t.TempDir()
	envFile, cosKeyFile, jwtFile := filepath.Join(dir, ".env"), filepath.Join(dir, "storage_secret"), filepath.Join(dir, "jwt_keys")
	writeFile(t, envFile, sp.keyID+"="+old.SecretID+"\n")
	writeFile(t, cosKeyFile, old.SecretKey+"\n")
	writeFile(t, jwtFile, oldJWT+"\n")
	env := store.env(map[string]string{
		"ADDR": "127.0.0.1:0", "DATABASE_URL": "sqlite:" + filepath.Join(dir, "rot.db"),
		"WECHAT_APPID": "wxrot", "WECHAT_SECRET": "wxrotsecret", "WECHAT_API_BASE": wechat.URL,
		"JWT_KEYS_FILE":             jwtFile,
		"LIMIT_SESSIONS_PER_MINUTE": "0", "LIMIT_UPLOADS_PER_MINUTE": "0", "LIMIT_PENDING_UPLOADS": "0",
		"WECHAT_PUSH_TOKEN": contractPushToken, "WECHAT_PUSH_AES_KEY": contractPushKey,
	})
	delete(env, sp.keyID)
	delete(env, sp.secret)
	env[sp.secret+"_FILE"] = cosKeyFile
	srv := start(t, []string{"serve", "--env-file", envFile}, env)
	c := client{t: t, base: srv.api}
	oldToken := c.login("code-before")
	png := testImage(t, "png")
	early := c.newSizedUpload(oldToken, "image/png", len(png)) // signed with the old key, uploaded after the swap
	qak := signingKeyID
	if qak(early) != old.SecretID {
		t.Fatalf("first signature carries %s; want the old SecretId", qak(early))
	}

	var gen atomic.Int64
	stop := make(chan struct{})
	failures := make(chan string, 1000)
	workers := make([]*loadWorker, 4)
	var wg sync.WaitGroup
	for i := range workers {
		w := &loadWorker{api: srv.api, name: fmt.Sprintf("load%d", i), oldToken: oldToken, png: png}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				w.lastStartGen.Store(gen.Load())
				if err := w.once(); err != nil {
					failures <- err.Error()
				}
				w.iterations.Add(1)
			}
		}()
	}
	allPassed := func(g int64) func() bool {
		return func() bool {
			for _, w := range workers {
				if w.lastStartGen.Load() < g {
					return false
				}
			}
			return true
		}
	}
	sighup := func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "load to start", func() bool { return workers[0].iterations.Load() >= 2 })

	// Runbook 1: add the new key in CAM (both keys now work at COS).
	cam.Store(&[]localcos.Key{old, next})
	// Runbook 2: update the environment: .env, key files; the new JWT key first.
	writeFile(t, envFile, sp.keyID+"="+next.SecretID+"\n")
	writeFile(t, cosKeyFile, next.SecretKey+"\n")
	writeFile(t, jwtFile, newJWT+"\n"+oldJWT+"\n")
	// Runbook 3: SIGHUP.
	gen.Store(1)
	sighup()
	waitFor(t, "new signatures", func() bool { return qak(c.newUpload(oldToken, "image/png")) == next.SecretID })
	if log := srv.stderr.String(); !strings.Contains(log, `"msg":"keys reloaded"`) || !strings.Contains(log, `"jwt_kid":"new"`) ||
		!strings.Contains(log, `"storage_key_id":"AKID*************************1111"`) {
		t.Errorf("reload log line missing or without masked SecretId and kid:\n%s", log)
	}
	newToken := c.login("code-after")
	tok, _, _ := jwt.NewParser().ParseUnverified(newToken, jwt.MapClaims{})
	if tok.Header["kid"] != "new" {
		t.Errorf("token after rotation has kid %v; want new", tok.Header["kid"])
	}
	// A signature made with the old key still works until it expires.
	if got := put(t, early, png, ""); got.status != 200 {
		t.Errorf("PUT signed before the rotation: %+v; want 200", got)
	}
	if r := c.confirm(oldToken, early.ID); r.status != 200 {
		t.Errorf("confirm of the early upload: %d %s", r.status, r.raw)
	}

	// A broken configuration is refused and the keys in force stay.
	writeFile(t, jwtFile, "new:tooshort\n")
	gen.Store(2)
	sighup()
	waitFor(t, "refusal", func() bool { return strings.Contains(srv.stderr.String(), "reload refused") })
	if log := srv.stderr.String(); !strings.Contains(log, "JWT_KEYS") || strings.Contains(log, "tooshort") {
		t.Errorf("refusal must name JWT_KEYS and not print the secret:\n%s", log)
	}
	if qak(c.newUpload(newToken, "image/png")) != next.SecretID {
		t.Errorf("a refused reload changed the keys")
	}

	// Runbook 4: wait until every signature made with the old key has been
	// used or has expired (here: every client began a new round).
	waitFor(t, "old signatures to drain", allPassed(2))
	// Runbook 5: disable the old key in CAM.
	cam.Store(&[]localcos.Key{next})
	gen.Store(3)
	waitFor(t, "load on the new key only", allPassed(3))
	for _, w := range workers {
		n := w.iterations.Load()
		waitFor(t, "another round", func() bool { return w.iterations.Load() > n })
	}
	close(stop)
	wg.Wait()
	close(failures)
	var total int64
	for _, w := range workers {
		total += w.iterations.Load()
	}
	n := 0
	for f := range failures {
		n++
		if n <= 5 {
			t.Errorf("failed request: %s", f)
		}
	}
	t.Logf("%d rounds of login+sign+PUT+confirm+me across the rotation, %d failed", total, n)
	if n > 0 {
		t.Errorf("%d requests failed during the rotation; want 0", n)
	}
	if r := c.call("GET", "/v1/me", oldToken, ""); r.status != 200 {
		t.Errorf("a session issued before the rotation: %d; want 200 until it expires", r.status)
	}
}
