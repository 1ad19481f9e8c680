package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeCurl is the README's "Try it with curl" script, the PUT variant
// appended, with API pointing at api.
func readmeCurl(t *testing.T, api string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### Try it with curl")
	if !ok {
		t.Fatal(`README has no "Try it with curl" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for rest := section; ; {
		_, after, ok := strings.Cut(rest, "```sh\n")
		if !ok {
			break
		}
		block, tail, _ := strings.Cut(after, "```")
		blocks, rest = append(blocks, block), tail
	}
	if len(blocks) != 2 || !strings.Contains(blocks[0], "API=http://127.0.0.1:8080\n") {
		t.Fatalf("README's curl section: want two sh blocks, the first setting API=http://127.0.0.1:8080; found %d", len(blocks))
	}
	return "set -euo pipefail\n" + strings.Replace(blocks[0], "API=http://127.0.0.1:8080\n", "API="+api+"\n", 1) + blocks[1]
}

// TestReadmeCurlQuickStart runs the README's curl walk-through against
// serve --dev, with every storage provider: it must work unchanged with
// STORAGE=oss and STORAGE=s3.
func TestReadmeCurlQuickStart(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed: CI must run the README's walk-through", tool)
			}
			t.Skipf("%s not found: skipping the README's curl walk-through", tool)
		}
	}
	for _, provider := range []string{providerCOS, providerOSS, providerS3} {
		t.Run(provider, func(t *testing.T) {
			dir := t.TempDir()
			srv := start(t, []string{"serve", "--dev", "--env-file", ""}, map[string]string{
				"ADDR": "127.0.0.1:0", "DEV_STORAGE_ADDR": "127.0.0.1:0", "METRICS_ADDR": "off", "STORAGE": provider,
				"DATABASE_URL": "sqlite:" + filepath.Join(dir, "dev.db"), "DEV_STORAGE_DIR": filepath.Join(dir, "objects"),
			})
			cmd := exec.Command("bash", "-c", readmeCurl(t, srv.api))
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the README's curl walk-through failed: %v\n%s", err, out)
			}
			for _, want := range []string{"upload: 204\n", "avatar: 200 image/jpeg\n", "thumbnail: 200 image/jpeg\n", `"nickname": "小明"`, "upload: 200\n"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the walk-through's output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
