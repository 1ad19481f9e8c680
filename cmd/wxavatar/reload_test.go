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
// unless STORAGE or the bucket changed, whose keys would sign for a store
// the running client does not talk to.
func TestReloadSwapsStorageKeysOfTheSameStore(t *testing.T) {
	cfg, err := load(t, false, prodEnv())
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
	logger := slog.New(slog.NewTextHandler(&log, nil))

	rotated := cfg
	rotated.Storage.Credentials = storage.Credentials{SecretID: "AKIDrotated", SecretKey: "rotated"}
	k.reload(rotated, logger)
	if got := objects.Credentials(); got != rotated.Storage.Credentials {
		t.Errorf("after a reload with new COS keys: %s in force; want AKIDrotated", got.MaskedID())
	}

	other, err := load(t, false, prodEnvFor(providerS3))
	if err != nil {
		t.Fatal(err)
	}
	k.reload(other, logger)
	if got := objects.Credentials(); got != rotated.Storage.Credentials {
		t.Errorf("after a reload that switched STORAGE: %s in force; want the COS keys kept", got.MaskedID())
	}
	if !strings.Contains(log.String(), "STORAGE or the bucket changed") {
		t.Errorf("no log line says the switch needs a restart:\n%s", log.String())
	}
}
