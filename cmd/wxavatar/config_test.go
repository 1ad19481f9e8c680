package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
		"WECHAT_PUSH_TOKEN": contractPushToken, "WECHAT_PUSH_AES_KEY": contractPushKey,
	}
}

// prodEnvFor is prodEnv with the storage provider's settings in place of
// COS's.
func prodEnvFor(provider string) map[string]string {
	env := prodEnv()
	if provider == "" || provider == providerCOS {
		return env
	}
	for _, name := range storageProviders[providerCOS].settings() {
		delete(env, name)
	}
	env["STORAGE"] = provider
	switch provider {
	case providerOSS:
		maps.Copy(env, map[string]string{"OSS_BUCKET": "wxavatar-avatars", "OSS_REGION": "cn-hangzhou",
			"OSS_ACCESS_KEY_ID": "LTAIx", "OSS_ACCESS_KEY_SECRET": "key"})
	case providerS3:
		maps.Copy(env, map[string]string{"S3_BUCKET": "wxavatar-avatars", "S3_REGION": "us-east-1",
			"S3_ACCESS_KEY_ID": "AKIAx", "S3_SECRET_ACCESS_KEY": "key"})
	}
	return env
}

// settingProvider is the storage provider whose setting name is, "" for
// the settings of every provider.
func settingProvider(name string) string {
	for provider, sp := range storageProviders {
		if slices.Contains(sp.settings(), name) {
			return provider
		}
	}
	return ""
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
		c.PendingUploads != 5 || c.Limits.SessionsPerMinute != 30 || c.WeChatAPIBase != "https://api.weixin.qq.com" {
		t.Errorf("defaults = %+v", c)
	}
	if got, want := c.Storage.Endpoint.String(), "https://avatars-1250000000.cos.ap-shanghai.myqcloud.com"; got != want {
		t.Errorf("bucket URL = %s; want %s", got, want)
	}
	d, err := load(t, true, map[string]string{})
	if err != nil {
		t.Fatalf("--dev with nothing set: %v", err)
	}
	if d.Addr != "127.0.0.1:8080" || d.Storage.Endpoint != nil || d.Storage.Credentials.SecretID != devSecretID {
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
		{"METRICS_ADDR", "0.0.0.0:9090", true}, {"PPROF_ADDR", "127.0.0.1:99999", false},
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

// TestLoadConfigNamesEveryBadVariable: an operator fixes every setting after
// one failed start, not one setting per start.
func TestLoadConfigNamesEveryBadVariable(t *testing.T) {
	_, err := load(t, false, map[string]string{
		"SESSION_TTL": "forever", "UPLOAD_MAX_BYTES": "5MB", "METRICS_ADDR": "9090", "JWT_KEYS": "k1:short",
	})
	want := []string{"WECHAT_APPID", "WECHAT_SECRET", "JWT_KEYS", "COS_BUCKET", "COS_REGION", "COS_SECRET_ID",
		"COS_SECRET_KEY", "SESSION_TTL", "UPLOAD_MAX_BYTES", "METRICS_ADDR"}
	var got []string
	for _, line := range strings.Split(fmt.Sprint(err), "\n") {
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "config: "), ":")
		got = append(got, name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("errors name %q; want one line for each of %q:\n%v", got, want, err)
	}
}

func TestMetricsAddr(t *testing.T) {
	for _, tt := range []struct {
		value, want string
		dev         bool
	}{
		{"", "127.0.0.1:9090", false}, {"", "127.0.0.1:9090", true}, // never the API listener by default
		{"off", "", false}, {":9100", ":9100", false}, {"127.0.0.1:0", "127.0.0.1:0", true},
	} {
		env := prodEnv()
		if tt.dev {
			env = map[string]string{}
		}
		env["METRICS_ADDR"] = tt.value
		c, err := load(t, tt.dev, env)
		if err != nil || c.MetricsAddr != tt.want {
			t.Errorf("METRICS_ADDR=%q (dev %v): %q, %v; want %q", tt.value, tt.dev, c.MetricsAddr, err, tt.want)
		}
	}
	for _, bad := range []string{"9090", "host:port", "127.0.0.1:99999"} {
		env := prodEnv()
		env["METRICS_ADDR"] = bad
		if _, err := load(t, false, env); err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
			t.Errorf("METRICS_ADDR=%q: %v; want an error naming it", bad, err)
		}
	}
}

// TestDevWeChatLogin: --dev uses real WeChat login when both credentials are
// set, the dev login when neither is, and refuses one without the other.
func TestDevWeChatLogin(t *testing.T) {
	c, err := load(t, true, map[string]string{"WECHAT_APPID": "wx1", "WECHAT_SECRET": "s"})
	if err != nil || c.WeChatAppID != "wx1" || c.WeChatSecret != "s" {
		t.Errorf("--dev with both: %+v, %v", c, err)
	}
	for name, env := range map[string]map[string]string{
		"WECHAT_SECRET": {"WECHAT_APPID": "wx1"}, "WECHAT_APPID": {"WECHAT_SECRET": "s"},
	} {
		var se *settingError
		if _, err := load(t, true, env); !errors.As(err, &se) || se.name != name {
			t.Errorf("--dev with only the other one: %v; want an error naming %s", err, name)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"serve", "--help"}, {"serve", "-h"}, {"migrate", "--help"}} {
		var out strings.Builder
		if err := run(context.Background(), args, func(string) string { return "" }, &out, io.Discard); err != nil {
			t.Errorf("run(%q) = %v; want nil (exit 0)", args, err)
		}
		for _, want := range []string{"serve", "migrate", "version", "--dev", "--env-file", ".env.example", "Configuration"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run(%q) prints no %q:\n%s", args, want, out.String())
			}
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, io.Discard); err != nil ||
		!strings.HasPrefix(out.String(), "wxavatar ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("version: %q, %v; want \"wxavatar <version> go1.…\"", out.String(), err)
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
	listed := envExampleSettings(t)
	for name := range read {
		if _, ok := listed[name]; !ok {
			t.Errorf("%s is read but not in .env.example", name)
		}
	}
	for name := range listed {
		if !read[name] {
			t.Errorf(".env.example lists %s, which nothing reads", name)
		}
	}
}

// documentedSetting is what .env.example or the README says of a variable.
type documentedSetting struct {
	where    string
	def      string // "" when it names none
	required bool   // "required without --dev", or "required with STORAGE=<provider>, without --dev"
}

// envExampleSettings reads .env.example: a "# default: X" line gives the next
// variable's default; "Required without --dev" in a comment makes every
// variable right under that comment required.
func envExampleSettings(t *testing.T) map[string]documentedSetting {
	b, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]documentedSetting{}
	def, comment, inComment := "", "", false
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			if !inComment {
				comment, inComment = "", true
			}
			comment += line + "\n"
			if v, ok := strings.CutPrefix(line, "# default: "); ok {
				def = v
			}
		case strings.Contains(line, "="):
			name, _, _ := strings.Cut(line, "=")
			out[name] = documentedSetting{where: fmt.Sprintf(".env.example:%d", i+1), def: def,
				required: strings.Contains(comment, "Required without --dev") ||
					strings.Contains(comment, "Required with STORAGE="+settingProvider(name)+", without --dev")}
			def, inComment = "", false
		default:
			comment, def, inComment = "", "", false
		}
	}
	return out
}

// readmeSettings reads the README's configuration table: the first
// `value` of the default column is the default, "required without" marks a
// required variable.
func readmeSettings(t *testing.T) map[string]documentedSetting {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| variable | meaning | default |")
	if !ok {
		t.Fatal("README has no configuration table")
	}
	out := map[string]documentedSetting{}
	for _, line := range strings.Split(table, "\n")[2:] {
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			break
		}
		def := strings.TrimSpace(cells[len(cells)-2])
		d := documentedSetting{where: "README: " + strings.TrimSpace(cells[1]),
			required: strings.HasPrefix(def, "required without") || strings.HasPrefix(def, "required with `STORAGE=")}
		if _, v, ok := strings.Cut(def, "`"); ok && !d.required && strings.HasPrefix(def, "`") {
			d.def, _, _ = strings.Cut(v, "`")
		}
		for _, f := range strings.Split(cells[1], "`") {
			if f = strings.TrimSpace(f); f != "" && f != "," && strings.ToUpper(f) == f {
				out[f] = d
			}
		}
	}
	return out
}

// TestDocumentedDefaults keeps .env.example and the README's table true:
// setting a variable to its documented default changes nothing, and the
// variables documented as required are exactly those a production start
// cannot do without.
func TestDocumentedDefaults(t *testing.T) {
	for _, doc := range []map[string]documentedSetting{envExampleSettings(t), readmeSettings(t)} {
		if len(doc) < 25 {
			t.Fatalf("read %d settings from the docs; the parser is lost", len(doc))
		}
		for name, d := range doc {
			dev := strings.HasPrefix(name, "DEV_") // read in --dev only
			base := prodEnvFor(settingProvider(name))
			if dev {
				base = map[string]string{}
			}
			if _, ok := base[name]; ok && d.def != "" {
				t.Errorf("%s: %s documents a default, but production cannot start without it", d.where, name)
				continue
			}
			if d.def == "" || strings.Contains(d.def, "<") {
				continue
			}
			want, err := load(t, dev, base)
			if err != nil {
				t.Fatal(err)
			}
			withDefault := maps.Clone(base)
			withDefault[name] = d.def
			got, err := load(t, dev, withDefault)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s=%s is documented as the default, but setting it changes the configuration (err %v)", d.where, name, d.def, err)
			}
		}
		for _, provider := range []string{providerCOS, providerOSS, providerS3} {
			for name := range prodEnvFor(provider) {
				env := prodEnvFor(provider)
				delete(env, name)
				var se *settingError
				_, err := load(t, false, env)
				if needed := errors.As(err, &se) && se.name == name; needed != doc[name].required {
					t.Errorf("STORAGE=%s: %s: documented as required: %v; production start without it fails: %v", provider, name, doc[name].required, needed)
				}
			}
		}
		for name, d := range doc {
			if _, ok := prodEnvFor(settingProvider(name))[name]; d.required && !ok {
				t.Errorf("%s: %s is documented as required, but production starts without it", d.where, name)
			}
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

func TestStorageSettings(t *testing.T) {
	for _, tc := range []struct {
		provider, endpoint string
		pathStyle, post    bool
	}{
		{providerCOS, "https://avatars-1250000000.cos.ap-shanghai.myqcloud.com", false, true},
		{providerOSS, "https://oss-cn-hangzhou.aliyuncs.com", false, true},
		{providerS3, "https://s3.us-east-1.amazonaws.com", false, true},
	} {
		c, err := load(t, false, prodEnvFor(tc.provider))
		if err != nil {
			t.Fatalf("STORAGE=%s: %v", tc.provider, err)
		}
		sc := c.Storage
		if sc.Provider != tc.provider || sc.Endpoint.String() != tc.endpoint || sc.PathStyle != tc.pathStyle ||
			sc.PostPolicy != tc.post || sc.Timeout != 3*time.Second || sc.Credentials.SecretKey != "key" || len(sc.Ignored) != 0 {
			t.Errorf("STORAGE=%s: got %+v", tc.provider, sc)
		}
	}

	env := prodEnvFor(providerS3)
	maps.Copy(env, map[string]string{"S3_ENDPOINT": "https://acc.r2.cloudflarestorage.com/", "S3_REGION": "auto",
		"S3_POST_POLICY": "false", "S3_PATH_STYLE": "true", "S3_SESSION_TOKEN": "tok", "COS_BUCKET": "left-1250000000", "OSS_REGION": "cn-beijing"})
	c, err := load(t, false, env)
	if err != nil {
		t.Fatal(err)
	}
	if sc := c.Storage; sc.Endpoint.String() != "https://acc.r2.cloudflarestorage.com" || sc.Region != "auto" || sc.PostPolicy ||
		!sc.PathStyle || sc.Credentials.SessionToken != "tok" || !slices.Equal(sc.Ignored, []string{"COS_BUCKET", "OSS_REGION"}) {
		t.Errorf("R2 settings: got %+v", sc)
	}

	// Every problem, one line each, named by its variable.
	env = prodEnvFor(providerOSS)
	maps.Copy(env, map[string]string{"OSS_BUCKET": "Bad_Bucket", "OSS_REGION": "hangzhou", "OSS_ENDPOINT": "ftp://x",
		"OSS_TIMEOUT": "1m", "OSS_ACCESS_KEY_SECRET": ""})
	_, err = load(t, false, env)
	var ce configError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	var names []string
	for _, se := range ce {
		names = append(names, se.name)
	}
	slices.Sort(names)
	if want := []string{"OSS_ACCESS_KEY_SECRET", "OSS_BUCKET", "OSS_ENDPOINT", "OSS_REGION", "OSS_TIMEOUT"}; !slices.Equal(names, want) {
		t.Errorf("failed settings = %v, want %v\n%v", names, want, err)
	}
	env = prodEnv()
	env["STORAGE"] = "gcs"
	if _, err := load(t, false, env); err == nil || !strings.Contains(err.Error(), `config: STORAGE: "gcs": want cos, oss or s3`) {
		t.Errorf("STORAGE=gcs: err = %v", err)
	}
	env = prodEnvFor(providerS3)
	env["S3_BUCKET"], env["S3_POST_POLICY"] = "-x", "maybe"
	if _, err := load(t, false, env); err == nil || !strings.Contains(err.Error(), "config: S3_BUCKET:") ||
		!strings.Contains(err.Error(), "config: S3_POST_POLICY:") {
		t.Errorf("bad S3 settings: err = %v", err)
	}

	// What only fits one provider, or only its client knows, named by the
	// setting to fix.
	for _, tc := range []struct {
		provider string
		env      map[string]string
		name     string
	}{
		{providerCOS, map[string]string{"COS_BUCKET_URL": "http://avatars-1250000000.cos.internal"}, "COS_BUCKET_URL"},
		{providerOSS, map[string]string{"OSS_REGION": "oss-cn-hangzhou"}, "OSS_REGION"},
		{providerOSS, map[string]string{"OSS_ENDPOINT": "http://oss-cn-hangzhou.aliyuncs.com"}, "OSS_ENDPOINT"},
		{providerS3, map[string]string{"S3_ENDPOINT": "http://minio.example.com", "S3_PATH_STYLE": "true"}, "S3_ENDPOINT"},
		{providerS3, map[string]string{"S3_ENDPOINT": "https://acc.r2.cloudflarestorage.com", "S3_REGION": "auto"}, "S3_POST_POLICY"},
		{providerS3, map[string]string{"S3_BUCKET": "avatars.example.com"}, "S3_BUCKET"},
		// minio-go addresses an AWS region at its own host, not at this one.
		{providerS3, map[string]string{"S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com"}, "S3_ENDPOINT"},
		// minio-go writes POST policy values unescaped.
		{providerS3, map[string]string{"S3_SESSION_TOKEN": `tok"en`}, "S3_ENDPOINT"},
	} {
		env := prodEnvFor(tc.provider)
		maps.Copy(env, tc.env)
		_, err := load(t, false, env)
		var ce configError
		if !errors.As(err, &ce) || len(ce) != 1 || ce[0].name != tc.name {
			t.Errorf("STORAGE=%s with %v: %v; want one problem, named %s", tc.provider, tc.env, err, tc.name)
		}
	}
	for _, ok := range []map[string]string{
		{"S3_ENDPOINT": "http://127.0.0.1:9000"}, // a local MinIO
		{"S3_ENDPOINT": "https://acc.r2.cloudflarestorage.com", "S3_REGION": "auto", "S3_POST_POLICY": "false"},
		{"S3_BUCKET": "avatars.example.com", "S3_PATH_STYLE": "true"},
	} {
		env := prodEnvFor(providerS3)
		maps.Copy(env, ok)
		if _, err := load(t, false, env); err != nil {
			t.Errorf("STORAGE=s3 with %v: %v; want it accepted", ok, err)
		}
	}

	// --dev needs nothing: the local object server plays the provider, path-style.
	for _, provider := range []string{providerOSS, providerS3} {
		c, err := load(t, true, map[string]string{"STORAGE": provider})
		if err != nil {
			t.Fatalf("--dev STORAGE=%s: %v", provider, err)
		}
		if sc := c.Storage; sc.Endpoint != nil || !sc.PathStyle || sc.Credentials.SecretID != devSecretID {
			t.Errorf("--dev STORAGE=%s: got %+v", provider, sc)
		}
	}
}
