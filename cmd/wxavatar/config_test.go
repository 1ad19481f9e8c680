package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// prodEnv is a complete production configuration.
func prodEnv() map[string]string {
	return map[string]string{
		"WECHAT_APPID": "wx123", "WECHAT_SECRET": "s",
		"JWT_KEYS":   "k1:0123456789abcdef0123456789abcdef",
		"COS_BUCKET": "avatars-1250000000", "COS_REGION": "ap-shanghai",
		"COS_SECRET_ID": "AKIDx", "COS_SECRET_KEY": "key",
	}
}

func load(t *testing.T, dev bool, env map[string]string) (config, error) {
	t.Helper()
	return loadConfig(dev, envSource{getenv: func(k string) string { return env[k] }})
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := load(t, false, prodEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.DatabaseURL != "sqlite:./data/wxavatar.db" || c.SessionTTL != 2*time.Hour ||
		c.UploadMaxBytes != 5242880 || c.UploadTTL != 10*time.Minute || c.Limits.UploadsPerMinute != 10 ||
		c.Limits.PendingUploads != 5 || c.Limits.SessionsPerMinute != 30 || c.WeChatAPIBase != "https://api.weixin.qq.com" {
		t.Errorf("defaults = %+v", c)
	}
	if got, want := c.COSBucketURL.String(), "https://avatars-1250000000.cos.ap-shanghai.myqcloud.com"; got != want {
		t.Errorf("bucket URL = %s; want %s", got, want)
	}
	d, err := load(t, true, map[string]string{})
	if err != nil {
		t.Fatalf("--dev with nothing set: %v", err)
	}
	if d.Addr != "127.0.0.1:8080" || d.COSBucketURL != nil || d.COSCredentials.SecretID != devSecretID {
		t.Errorf("dev defaults = %+v", d)
	}
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	tests := []struct {
		name, value string
		dev         bool
	}{
		{"WECHAT_APPID", "", false}, {"WECHAT_SECRET", "", false}, {"JWT_KEYS", "", false},
		{"COS_BUCKET", "", false}, {"COS_REGION", "", false}, {"COS_SECRET_ID", "", false}, {"COS_SECRET_KEY", "", false},
		{"JWT_KEYS", "k1:short", false}, {"JWT_KEYS", "nokid", false},
		{"COS_BUCKET", "Bad_Bucket", false}, {"COS_REGION", "mars", false},
		{"SESSION_TTL", "forever", false}, {"SESSION_TTL", "1s", false}, {"UPLOAD_TTL", "-5m", false},
		{"UPLOAD_MAX_BYTES", "5MB", false}, {"UPLOAD_MAX_BYTES", "0", false},
		{"LIMIT_UPLOADS_PER_MINUTE", "-1", false}, {"LIMIT_PENDING_UPLOADS", "x", false},
		{"LIMIT_SESSIONS_PER_MINUTE", "1e3", false}, {"TRUSTED_PROXIES", "10.0.0.0/33", false},
		{"COS_BUCKET_URL", "ftp://x", false}, {"PUBLIC_BASE_URL", "cdn.example.com", false},
		{"WECHAT_API_BASE", "not a url", false}, {"ADDR", "8080", false},
		{"ADDR", "0.0.0.0:8080", true}, {"DEV_STORAGE_ADDR", "10.0.0.1:9000", true},
	}
	for _, tt := range tests {
		env := prodEnv()
		if tt.dev {
			env = map[string]string{}
		}
		env[tt.name] = tt.value
		_, err := load(t, tt.dev, env)
		var se *settingError
		if !errors.As(err, &se) || se.name != tt.name || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: err = %v; want one line naming %s", tt.name, tt.value, err, tt.name)
		}
	}
}

func TestEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("# comment\nUPLOAD_TTL=3m\nSESSION_TTL=5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := newEnvSource(func(k string) string {
		if k == "SESSION_TTL" {
			return "7m" // the process environment wins over .env
		}
		return ""
	}, path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(true, src)
	if err != nil {
		t.Fatal(err)
	}
	if c.UploadTTL != 3*time.Minute || c.SessionTTL != 7*time.Minute {
		t.Errorf("UPLOAD_TTL %s, SESSION_TTL %s; want 3m from .env and 7m from the environment", c.UploadTTL, c.SessionTTL)
	}
	if _, err := newEnvSource(os.Getenv, filepath.Join(t.TempDir(), "missing.env")); err != nil {
		t.Errorf("missing .env: %v; want it ignored", err)
	}
}

func TestRunRefusesBadStart(t *testing.T) {
	for _, args := range [][]string{nil, {"serve", "extra"}, {"frobnicate"}, {"serve", "--nope"}} {
		if err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v; want usage error", args, err)
		}
	}
	err := run(context.Background(), []string{"serve", "--env-file", ""}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "WECHAT_APPID") {
		t.Errorf("production start without settings: %v; want an error naming WECHAT_APPID", err)
	}
}

// TestEnvExampleListsEverySetting keeps .env.example in step with the code.
func TestEnvExampleListsEverySetting(t *testing.T) {
	read := map[string]bool{}
	src := envSource{getenv: func(k string) string { read[k] = true; return "" }}
	loadConfig(true, src)
	loadConfig(false, src)
	b, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if name, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			listed[name] = true
		}
	}
	for name := range read {
		if !listed[name] {
			t.Errorf("%s is read but not in .env.example", name)
		}
	}
	for name := range listed {
		if !read[name] {
			t.Errorf(".env.example lists %s, which nothing reads", name)
		}
	}
}

func TestMigrateCommand(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return "" // nothing else is needed
	}
	for i, fresh := range []bool{true, false} {
		var out strings.Builder
		if err := run(context.Background(), []string{"migrate", "--env-file", ""}, getenv, &out, io.Discard); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if noop := strings.Contains(out.String(), "(0 migrations applied now)"); noop == fresh {
			t.Errorf("run %d: migrate said %q", i+1, out.String())
		}
	}
	bad := func(string) string { return "mysql://x" }
	if err := run(context.Background(), []string{"migrate", "--env-file", ""}, bad, io.Discard, io.Discard); err == nil {
		t.Errorf("migrate with a bad DATABASE_URL succeeded")
	}
	if err := run(context.Background(), []string{"migrate", "--dev"}, getenv, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("migrate --dev: %v; want usage error", err)
	}
}
