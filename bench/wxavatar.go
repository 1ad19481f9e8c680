package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	apiLineRE     = regexp.MustCompile(`^wxavatar: API on (http://127\.0\.0\.1:\d+)\s*$`)
	objectsLineRE = regexp.MustCompile(`^wxavatar: local object server on (http://127\.0\.0\.1:\d+) \((?:cos|oss|s3), bucket ([^)]*)\)`)
	// A line announcing a pprof listener, whatever its exact wording.
	pprofLineRE = regexp.MustCompile(`(?i)pprof\S*\s.*?(http://127\.0\.0\.1:\d+)`)
)

// service is the wxavatar process under test.
type service struct {
	proc    *child
	api     string // http://127.0.0.1:PORT
	objects string // the local object server
	pprof   string // base URL serving /debug/pprof/, or ""
	peaks   *peakTracker
	net     *netWatch
}

// pprofOverlay is compiled into the service, with go build -overlay, when
// profiles are asked for: it serves net/http/pprof on BENCH_PPROF_ADDR, so
// that the service can be profiled whether or not it serves pprof itself.
// The repository's files are untouched.
const pprofOverlay = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

func init() {
	addr := os.Getenv("BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return
	}
	go http.Serve(ln, http.DefaultServeMux)
}
`

// buildService compiles the service once, as the Dockerfile builds it for
// deployment (static, no symbol table or DWARF); with withPprof, plus
// pprofOverlay.
func buildService(ctx context.Context, root, tmp, out string, withPprof bool) error {
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", out}
	if withPprof {
		src := filepath.Join(tmp, "bench_pprof_overlay.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
			return err
		}
		overlay, err := json.Marshal(map[string]map[string]string{"Replace": {
			filepath.Join(root, "cmd", "wxavatar", "zz_bench_pprof_overlay.go"): src,
		}})
		if err != nil {
			return err
		}
		file := filepath.Join(tmp, "overlay.json")
		if err := os.WriteFile(file, overlay, 0o644); err != nil {
			return err
		}
		args = append(args, "-overlay", file)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/wxavatar")...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/wxavatar: %w", err)
	}
	return nil
}

// startService runs `<bin> serve --dev --env-file ""` as name in dir with
// the benchmark's settings and nothing else from the environment: no limits,
// no sweeper, the database dbURL (a fresh SQLite file or PostgreSQL
// database) and the local object server's folder storageDir; extraEnv adds
// to them.
func startService(ctx context.Context, name, bin, dir, dbURL, storageDir string, pprofPorts []int, extraEnv []string) (*service, error) {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"ADDR=127.0.0.1:0",
		"DEV_STORAGE_ADDR=127.0.0.1:0",
		"DATABASE_URL=" + dbURL,
		"DEV_STORAGE_DIR=" + storageDir,
		"LIMIT_UPLOADS_PER_MINUTE=0",
		"LIMIT_PENDING_UPLOADS=0",
		"LIMIT_SESSIONS_PER_MINUTE=0",
		"LIMIT_CONFIRMS_PER_MINUTE=0",
		"METRICS_ADDR=off",
		"SWEEP_INTERVAL=0",
	}
	env = append(env, extraEnv...)

	if len(pprofPorts) == 2 {
		// The service's own pprof (with it, heap profiles are sampled), and
		// the overlay's.
		env = append(env, fmt.Sprintf("PPROF_ADDR=127.0.0.1:%d", pprofPorts[0]),
			fmt.Sprintf("BENCH_PPROF_ADDR=127.0.0.1:%d", pprofPorts[1]))
	}
	proc, err := startChild(name, []string{bin, "serve", "--dev", "--env-file", ""}, env, dir, filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	s := &service{proc: proc}
	fail := func(err error) (*service, error) {
		proc.stop(5 * time.Second)
		return nil, err
	}
	m, err := proc.waitLine(ctx, apiLineRE, 30*time.Second)
	if err != nil {
		return fail(err)
	}
	s.api = m[1]
	if m := proc.findLine(objectsLineRE); m != nil {
		s.objects = m[1]
	} else {
		return fail(errors.New("wxavatar printed no 'local object server on' line: is this --dev?"))
	}
	client := newClient(1)
	if err := waitHealthy(ctx, client, s.api+"/healthz", 20*time.Second); err != nil {
		return fail(err)
	}
	if len(pprofPorts) == 2 {
		s.pprof = findPprof(ctx, client, proc, s.api, pprofPorts)
	}
	s.peaks, err = newPeakTracker(proc.pid())
	if err != nil {
		return fail(err)
	}
	return s, nil
}

func waitHealthy(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			drain(resp)
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not healthy within %s: %v", url, timeout, last)
}

// findPprof returns where the service serves /debug/pprof/, trying the
// address it announces, the PPROF_ADDR it was given, the API itself and last
// the overlay's BENCH_PPROF_ADDR; "" when none answers (profiles skipped).
func findPprof(ctx context.Context, client *http.Client, proc *child, api string, ports []int) string {
	var candidates []string
	// Give a listener started after the API a moment to announce itself.
	time.Sleep(200 * time.Millisecond)
	if m := proc.findLine(pprofLineRE); m != nil {
		candidates = append(candidates, m[1])
	}
	candidates = append(candidates, fmt.Sprintf("http://127.0.0.1:%d", ports[0]), api, fmt.Sprintf("http://127.0.0.1:%d", ports[1]))
	for _, base := range candidates {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/", nil)
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		body, _ := drain(resp)
		if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("profile")) {
			return base
		}
	}
	return ""
}

// fetchProfile saves one pprof endpoint's answer to path.
func fetchProfile(ctx context.Context, client *http.Client, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := drain(resp)
		return fmt.Errorf("%s: status %d: %s", url, resp.StatusCode, truncate(b, 200))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// login logs in n dev users (code dev-benchN) and returns their
// "Bearer <token>" header values.
func login(ctx context.Context, client *http.Client, api string, n, concurrency int) ([]string, error) {
	auths := make([]string, n)
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		firstErr error
		mu       sync.Mutex
	)
	for range min(concurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				body := fmt.Sprintf(`{"code":"dev-bench%d"}`, i)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/session", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				var out struct {
					Token string `json:"token"`
				}
				err := doJSON(client, req, http.StatusOK, &out)
				if err == nil && out.Token == "" {
					err = errors.New("no token in the answer")
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("log in dev-bench%d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				auths[i] = "Bearer " + out.Token
			}
		}()
	}
	wg.Wait()
	return auths, firstErr
}

// checkSharedStore asks instance api for a signature and checks that its
// upload goes to the object store at objects: the one every instance of a
// set must share.
func checkSharedStore(ctx context.Context, client *http.Client, api, auth, objects string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/avatar/uploads", bytes.NewReader(signBody))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	var s signedUpload
	if err := doJSON(client, req, http.StatusCreated, &s); err != nil {
		return err
	}
	if !strings.HasPrefix(s.Upload.Put.URL, objects+"/") {
		return fmt.Errorf("the instance on %s signs uploads to %s, not to the shared object store %s", api, s.Upload.Put.URL, objects)
	}
	return nil
}

func doJSON(client *http.Client, req *http.Request, want int, out any) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, err := drain(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d (want %d): %s", req.Method, req.URL.Path, resp.StatusCode, want, truncate(body, 300))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return nil
}

var (
	jsonCT     = []string{"application/json"}
	signBody   = fmt.Appendf(nil, `{"content_type":"image/png","size":%d}`, len(avatarPNG)) // as the mini program client asks
	confirmOK  = []byte(`"status":"confirmed"`)
	signPutURL = []byte(`"put":{"url":"http://127.0.0.1:`)
)

// avatarPNG is a real 4×4 PNG, the one the README uploads; the signature
// scenario declares it.
var avatarPNG = func() []byte {
	b, err := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAFUlEQVR4nGNgqKiwqQCBLRUVDMRxAAiiFKHJtzU9AAAAAElFTkSuQmCC")
	if err != nil {
		panic(err)
	}
	return b
}()

// signedUpload is the part of POST /v1/avatar/uploads's answer the
// benchmark uses.
type signedUpload struct {
	Upload struct {
		ID   string `json:"id"`
		Key  string `json:"key"`
		URL  string `json:"url"`
		Post struct {
			URL  string            `json:"url"`
			Form map[string]string `json:"form"`
		} `json:"post"`
		Put struct {
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"put"`
	} `json:"upload"`
}

func (s *signedUpload) validate(contentType string) error {
	u := s.Upload
	switch {
	case u.ID == "" || u.Key == "" || u.URL == "":
		return errors.New("upload without id, key or url")
	case !strings.HasPrefix(u.Put.URL, "http://127.0.0.1:") || u.Put.Headers["Content-Type"] != contentType:
		return fmt.Errorf("unexpected put: %q %v", u.Put.URL, u.Put.Headers)
	case u.Post.URL == "" || len(u.Post.Form) == 0:
		return errors.New("upload without a POST form")
	}
	return nil
}

func healthzScenario(api string) *scenario {
	url := api + "/healthz"
	return &scenario{
		Name: "`GET /healthz` (ceiling)", Key: "healthz", Process: "wxavatar", expect: http.StatusOK,
		next: func(int64) (*http.Request, error) { return http.NewRequest(http.MethodGet, url, nil) },
		check: func(body []byte, _ bool) error {
			if !bytes.Contains(body, []byte(`"ok"`)) {
				return fmt.Errorf("healthz said %s", truncate(body, 80))
			}
			return nil
		},
	}
}

// signScenario asks for upload signatures, spreading the requests over the
// logged-in users.
func signScenario(api string, auths []string) *scenario {
	url := api + "/v1/avatar/uploads"
	authHdr := make([][]string, len(auths))
	for i, a := range auths {
		authHdr[i] = []string{a}
	}
	return &scenario{
		Name: "`POST /v1/avatar/uploads` (signature)", Key: "sign", Process: "wxavatar", expect: http.StatusCreated,
		next: func(i int64) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(signBody))
			if err != nil {
				return nil, err
			}
			req.Header["Authorization"] = authHdr[i%int64(len(authHdr))]
			req.Header["Content-Type"] = jsonCT
			return req, nil
		},
		check: func(body []byte, full bool) error {
			if !full {
				if !bytes.Contains(body, signPutURL) {
					return fmt.Errorf("no presigned PUT URL in %s", truncate(body, 120))
				}
				return nil
			}
			var s signedUpload
			if err := json.Unmarshal(body, &s); err != nil {
				return err
			}
			return s.validate("image/png")
		},
	}
}

// preparedUpload is one upload signed and really uploaded before the timed
// window, ready to be confirmed.
type preparedUpload struct {
	id   string
	auth []string
}

// photoUpload is what a confirm scenario uploads: the sign request's body,
// declaring the type and the size, and the bytes PUT.
type photoUpload struct {
	contentType string
	signBody    []byte
	body        []byte
}

func newPhotoUpload(jpg []byte) photoUpload {
	return photoUpload{
		contentType: "image/jpeg",
		signBody:    fmt.Appendf(nil, `{"content_type":"image/jpeg","size":%d}`, len(jpg)),
		body:        jpg,
	}
}

// prepareUploads signs n uploads spread over the users and PUTs the photo
// to each presigned URL through the local object server, concurrently.
func prepareUploads(ctx context.Context, client *http.Client, api string, auths []string, up photoUpload, n, concurrency int, progress func(done int)) ([]preparedUpload, error) {
	every := max(100, n/5) // progress lines
	pool := make([]preparedUpload, n)
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		done     atomic.Int64
		mu       sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				auth := auths[i%len(auths)]
				if err := prepareOne(ctx, client, api, auth, up, &pool[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("preparing upload %d: %w", i, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				if d := done.Add(1); d%int64(every) == 0 && progress != nil {
					progress(int(d))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return pool, ctx.Err()
}

func prepareOne(ctx context.Context, client *http.Client, api, auth string, up photoUpload, out *preparedUpload) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/avatar/uploads", bytes.NewReader(up.signBody))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	var s signedUpload
	if err := doJSON(client, req, http.StatusCreated, &s); err != nil {
		return err
	}
	if err := s.validate(up.contentType); err != nil {
		return err
	}
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, s.Upload.Put.URL, bytes.NewReader(up.body))
	if err != nil {
		return err
	}
	for k, v := range s.Upload.Put.Headers {
		put.Header.Set(k, v)
	}
	if err := doJSON(client, put, http.StatusOK, nil); err != nil {
		return fmt.Errorf("upload to the presigned URL: %w", err)
	}
	*out = preparedUpload{id: s.Upload.ID, auth: []string{auth}}
	return nil
}

// confirmScenario confirms each prepared upload of photo p once (again after
// a busy answer); when the pool is used up the window ends.
func confirmScenario(p photoSpec, api string, pool []preparedUpload) *scenario {
	name := "`POST /v1/avatar/uploads/{id}/confirm` (1080² JPEG)"
	if p.Key == photo12MP.Key {
		name = "`POST /v1/avatar/uploads/{id}/confirm` (12 MP JPEG)"
	}
	return &scenario{
		Name: name, Key: p.Key, Process: "wxavatar", expect: http.StatusOK,
		busyOK: true, pool: int64(len(pool)),
		next: func(i int64) (*http.Request, error) {
			if i >= int64(len(pool)) {
				return nil, errPoolDry
			}
			p := pool[i]
			req, err := http.NewRequest(http.MethodPost, api+"/v1/avatar/uploads/"+p.id+"/confirm", nil)
			if err != nil {
				return nil, err
			}
			req.Header["Authorization"] = p.auth
			return req, nil
		},
		check: func(body []byte, full bool) error {
			if !bytes.Contains(body, confirmOK) {
				return fmt.Errorf("not confirmed: %s", truncate(body, 160))
			}
			if full {
				var out struct {
					User struct {
						AvatarURL *string `json:"avatar_url"`
					} `json:"user"`
				}
				if err := json.Unmarshal(body, &out); err != nil {
					return err
				}
				if out.User.AvatarURL == nil || *out.User.AvatarURL == "" {
					return errors.New("confirmed without an avatar_url on the user")
				}
			}
			return nil
		},
	}
}

// goMemory summarizes the Go runtime's memory from /debug/pprof/heap?debug=1
// (its "# Name = value" MemStats lines): what of the RSS is Go's own.
func goMemory(ctx context.Context, base string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/heap?debug=1", nil)
	if err != nil {
		return ""
	}
	resp, err := newClient(1).Do(req)
	if err != nil {
		return "Go memory: " + err.Error()
	}
	body, _ := drainAll(resp)
	m := parseMemStats(string(body))
	if _, ok := m["Sys"]; !ok {
		return "Go memory: no MemStats in the heap profile"
	}
	mib := func(k string) string { return fmt.Sprintf("%.1f", float64(m[k])/(1<<20)) }
	return fmt.Sprintf("Go runtime after the window: Sys %s MiB (HeapSys %s, HeapInuse %s, HeapReleased %s, stacks %s), NumGC %d",
		mib("Sys"), mib("HeapSys"), mib("HeapInuse"), mib("HeapReleased"), mib("Stack"), m["NumGC"])
}

// parseMemStats reads the "# Name = value" lines that close a debug=1 heap
// profile.
func parseMemStats(text string) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, "# ")
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(rest, " = ")
		if !ok || strings.ContainsAny(name, " ") {
			continue
		}
		// "Stack = inuse / sys" and the like: the first number.
		val, _, _ = strings.Cut(val, " / ")
		if n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64); err == nil {
			m[name] = n
		}
	}
	return m
}

// drainAll is drain without the 1 MiB cap: debug=1 heap profiles are long.
func drainAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}
