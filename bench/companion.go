package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The peer: Uppy Companion's S3 simple-upload presign endpoint, which signs a
// POST policy for one object, the counterpart of wxavatar's signature.
const companionRoute = "/s3/params"

var companionLineRE = regexp.MustCompile(`^companion-bench: listening on (http://127\.0\.0\.1:\d+) \(@uppy/companion (\S+), node (\S+)\)`)

type companionProc struct {
	proc    *child
	url     string
	version string
	node    string
	peaks   *peakTracker
	net     *netWatch
}

// ensureCompanion installs bench/companion's locked dependencies when they
// are missing (or the lock file changed), with npm ci.
func ensureCompanion(ctx context.Context, dir string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not installed (Node.js ≥ 20.19.3 is needed for the Companion peer; or run with -companion=false)")
	}
	stamp := filepath.Join(dir, "node_modules", ".bench-lock")
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	if have, err := os.ReadFile(stamp); err == nil && bytes.Equal(have, lock) {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@uppy", "companion", "package.json")); err == nil {
			return nil
		}
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return errors.New("npm is not installed: it is needed once to install Companion (npm ci)")
	}
	fmt.Fprintln(os.Stderr, "bench: installing Companion: npm ci --no-audit --no-fund in", dir)
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm ci in %s: %w", dir, err)
	}
	return os.WriteFile(stamp, lock, 0o644)
}

// startCompanion runs Companion standalone (bench/companion/serve.mjs) on
// 127.0.0.1 with fake AWS credentials and nothing else from the environment:
// no Redis, no provider keys, no periodic pings, no instance metadata.
func startCompanion(ctx context.Context, dir, tmp string) (*companionProc, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(tmp, "companion-data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + data,
		"NODE_ENV=production",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(data, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(data, "no-aws-credentials"),
		"COMPANION_PORT=" + strconv.Itoa(port),
		"COMPANION_DOMAIN=" + addr,
		"COMPANION_PROTOCOL=http",
		"COMPANION_DATADIR=" + data,
		"COMPANION_SECRET=bench-fake-companion-secret-0123456789abcdef",
		"COMPANION_PREAUTH_SECRET=bench-fake-companion-preauth-0123456789abcdef",
		"COMPANION_CLIENT_ORIGINS=http://127.0.0.1",
		"COMPANION_UPLOAD_URLS=^http://127\\.0\\.0\\.1[:/]",
		"COMPANION_AWS_KEY=AKIAFAKEBENCHKEY0000",
		"COMPANION_AWS_SECRET=fakeBenchSecretKeyNotARealOne0000000000000",
		"COMPANION_AWS_BUCKET=wxavatar-bench",
		"COMPANION_AWS_REGION=ap-guangzhou",
	}
	proc, err := startChild("companion", []string{"node", "serve.mjs"}, env, dir, filepath.Join(tmp, "companion.log"))
	if err != nil {
		return nil, err
	}
	c := &companionProc{proc: proc}
	fail := func(err error) (*companionProc, error) {
		proc.stop(5 * time.Second)
		return nil, err
	}
	m, err := proc.waitLine(ctx, companionLineRE, 60*time.Second)
	if err != nil {
		return fail(err)
	}
	c.url, c.version, c.node = m[1], m[2], m[3]
	if c.url != "http://"+addr {
		return fail(fmt.Errorf("companion listens on %s, not %s", c.url, addr))
	}
	// One real presign before the clock starts: the route works.
	client := newClient(1)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+companionRoute+"?filename=avatar.png&type=image%2Fpng", nil)
	resp, err := client.Do(req)
	if err != nil {
		return fail(fmt.Errorf("companion %s: %w", companionRoute, err))
	}
	body, _ := drain(resp)
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("companion %s: status %d: %s", companionRoute, resp.StatusCode, truncate(body, 300)))
	}
	if err := checkCompanionParams(body, true); err != nil {
		return fail(err)
	}
	c.peaks, err = newPeakTracker(proc.pid())
	if err != nil {
		return fail(err)
	}
	return c, nil
}

// refusals counts netguard's "refused" lines in Companion's log: attempts to
// reach anything but loopback, which it blocked.
func (c *companionProc) refusals() []string {
	return grepFile(c.proc.log, "netguard: refused")
}

// grepFile returns the lines of path that start with prefix.
func grepFile(path, prefix string) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{prefix + " (cannot read " + path + ": " + err.Error() + ")"}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	return out
}

var companionURLField = []byte(`"url":"https://`)

// checkCompanionParams checks an answer of GET /s3/params: a POST to the
// bucket with a signed policy.
func checkCompanionParams(body []byte, full bool) error {
	if !full {
		if !bytes.Contains(body, companionURLField) {
			return fmt.Errorf("no URL in %s", truncate(body, 120))
		}
		return nil
	}
	var p struct {
		Method string            `json:"method"`
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	if p.Method != "POST" || p.URL == "" || p.Fields["Policy"] == "" || p.Fields["X-Amz-Signature"] == "" || p.Fields["key"] == "" {
		return fmt.Errorf("not a presigned POST: %s", truncate(body, 200))
	}
	return nil
}

// companionScenario presigns one upload per request, the way Uppy's AwsS3
// plugin asks Companion for simple (non-multipart) uploads.
func companionScenario(base string) *scenario {
	return &scenario{
		Name: "Companion `GET /s3/params` (peer)", Key: "companion", Process: "companion", expect: http.StatusOK,
		next: func(i int64) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, base+companionRoute+"?filename=avatar-"+strconv.FormatInt(i, 10)+".png&type=image%2Fpng", nil)
		},
		check: checkCompanionParams,
	}
}
