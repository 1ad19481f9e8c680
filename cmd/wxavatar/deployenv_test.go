package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

// TestSystemdExampleStarts: the systemd example's settings, with its key
// files holding valid keys, are a production configuration that loads; so a
// deployment built from deploy/ does not stop at a setting the service has
// come to require (the push pair, for one).
func TestSystemdExampleStarts(t *testing.T) {
	env, err := godotenv.Read("../../deploy/systemd/wxavatar.env")
	if err != nil {
		t.Fatal(err)
	}
	valid := map[string]string{
		"WECHAT_SECRET":       "the-mini-program-appsecret",
		"JWT_KEYS":            "k1:0123456789abcdef0123456789abcdef",
		"COS_SECRET_ID":       "AKIDexample",
		"COS_SECRET_KEY":      "example-secret-key",
		"WECHAT_PUSH_TOKEN":   strings.Repeat("t", 48),
		"WECHAT_PUSH_AES_KEY": strings.Repeat("A", 43),
	}
	dir := t.TempDir()
	for name, path := range env {
		setting, ok := strings.CutSuffix(name, "_FILE")
		if !ok {
			continue
		}
		v, known := valid[setting]
		if !known {
			t.Fatalf("%s=%s: no valid value for %s in this test", name, path, setting)
		}
		file := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(file, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env[name] = file
	}
	env["DATABASE_URL"] = "sqlite:" + filepath.Join(dir, "wxavatar.db")
	if _, err := load(t, false, env); err != nil {
		t.Errorf("the systemd example does not load as production:\n%v", err)
	}
}
