package main

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/wxavatar/wxavatar/auth"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
	"github.com/wxavatar/wxavatar/wechat"
)

// TestReloadRetiresPreviousPushSecrets: a reload with a new push pair keeps
// the old one accepted while WeChat switches; the next reload retires it,
// whether it brings yet another pair or the same one again.
func TestReloadRetiresPreviousPushSecrets(t *testing.T) {
	cfg, err := load(t, false, prodEnv())
	if err != nil {
		t.Fatal(err)
	}
	first, second := cfg.Push, wechat.PushSecrets{Token: strings.Repeat("t", 40), EncodingAESKey: strings.Repeat("B", 43)}
	push, err := wechat.NewPush(cfg.WeChatAppID, first)
	if err != nil {
		t.Fatal(err)
	}
	bucketURL, _ := url.Parse("https://" + cfg.Storage.Bucket + ".cos." + cfg.Storage.Region + ".myqcloud.com")
	objects, err := cos.NewClient(cos.Config{Bucket: cfg.Storage.Bucket, BucketURL: bucketURL, Credentials: cfg.Storage.Credentials, Timeout: cfg.Storage.Timeout})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(cfg.JWTKeys, cfg.SessionTTL, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := &keys{objects: objects, storage: cfg.Storage, tokens: tokens, push: push, pushSecrets: first}
	accepts := func(s wechat.PushSecrets) bool {
		ts, nonce := "1714036504", "1514711492"
		return push.VerifyURL(url.Values{"signature": {wechat.Sign(s.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}})
	}
	logger := slog.New(slog.DiscardHandler)

	cfg.Push = second
	k.reload(cfg, logger)
	if !accepts(first) || !accepts(second) {
		t.Fatalf("after the change: first %v, second %v; want both accepted", accepts(first), accepts(second))
	}
	k.reload(cfg, logger) // the same pair again
	if accepts(first) || !accepts(second) {
		t.Errorf("after a second reload: first %v, second %v; want the first retired", accepts(first), accepts(second))
	}
}

// TestReloadSwapsStorageKeysOfTheSameStore: a reload swaps the storage keys,
// unless the store itself changed (provider, bucket, region, endpoint,
// addressing), whose keys would sign for a store the running client does
// not talk to, or the provider refuses them; the log names the key in force.
func TestReloadSwapsStorageKeysOfTheSameStore(t *testing.T) {
	cfg, err := load(t, false, prodEnvFor(providerS3))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := newProvider(cfg.Storage, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(cfg.JWTKeys, cfg.SessionTTL, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := &keys{objects: objects, storage: cfg.Storage, tokens: tokens}
	var log strings.Builder
	logger := slog.New(slog.NewJSONHandler(&log, nil))

	rotated := cfg
	rotated.Storage.Credentials = storage.Credentials{SecretID: "AKIArotated00001111", SecretKey: "rotated"}
	k.reload(rotated, logger)
	if got := objects.Credentials(); got != rotated.Storage.Credentials {
		t.Fatalf("after a reload with new keys: %s in force; want AKIArotated…", got.MaskedID())
	}
	if !strings.Contains(log.String(), `"storage_key_id":"AKIA***********1111"`) {
		t.Errorf("the reload's log line does not name the key in force:\n%s", log.String())
	}

	for _, step := range []struct {
		name   string
		change func(*storageConfig)
	}{
		{"STORAGE", func(sc *storageConfig) { sc.Provider = providerCOS }},
		{"bucket", func(sc *storageConfig) { sc.Bucket = "another-bucket" }},
		{"region", func(sc *storageConfig) { sc.Region = "eu-west-1" }},
		{"endpoint", func(sc *storageConfig) { sc.Endpoint = &url.URL{Scheme: "https", Host: "minio.example.com"} }},
		{"path style", func(sc *storageConfig) { sc.PathStyle = !sc.PathStyle }},
		{"POST policy", func(sc *storageConfig) { sc.PostPolicy = !sc.PostPolicy }},
		{"refused by s3", func(sc *storageConfig) { sc.Credentials.SessionToken = "tok\"en" }}, // minio-go would write it unescaped into policies
		{"and keys again", func(sc *storageConfig) {}},                                         // last: the keys change
	} {
		name, change := step.name, step.change
		log.Reset()
		next := cfg
		next.Storage.Credentials = storage.Credentials{SecretID: "AKIAother000022222", SecretKey: "other"}
		change(&next.Storage)
		k.reload(next, logger)
		got := objects.Credentials()
		if name == "and keys again" {
			if got != next.Storage.Credentials {
				t.Errorf("a reload with only new keys: %s in force; want them", got.MaskedID())
			}
			continue
		}
		if got != rotated.Storage.Credentials {
			t.Errorf("after a reload that changed the %s: %s in force; want the keys kept", name, got.MaskedID())
		}
		if !strings.Contains(log.String(), `"level":"ERROR"`) || !strings.Contains(log.String(), `"storage_key_id":"AKIA***********1111"`) {
			t.Errorf("a reload that changed the %s: want an error line and the kept key named:\n%s", name, log.String())
		}
	}
}
