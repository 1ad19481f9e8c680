package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
	"github.com/wxavatar/wxavatar/localcos"
)

// testProviders are the storage providers the end-to-end, contract and fault
// tests run against, each played by the local object server.
var testProviders = []string{providerCOS, providerOSS, providerS3}

// testStore is the local object server playing one storage provider for a
// test, on loopback, and the settings that point the service at it.
type testStore struct {
	provider string
	local    *localcos.Server
	srv      *httptest.Server
}

// newTestStore starts the local object server speaking provider's protocol,
// accepting the test credentials unless cfg names others; wrap, if not nil,
// wraps it (fault injection).
func newTestStore(t *testing.T, provider string, cfg localcos.Config, wrap func(http.Handler) http.Handler) *testStore {
	t.Helper()
	cfg.Protocol, cfg.Region = localcos.Protocol(provider), storageProviders[provider].devRegion
	if provider == providerCOS {
		cfg.Region = ""
	}
	local := newTestCOS(t, cfg)
	var h http.Handler = local
	if wrap != nil {
		h = wrap(local)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testStore{provider: provider, local: local, srv: srv}
}

// bucketURL is where the bucket's objects are: the server's root for COS,
// /<bucket> on it for the path-style OSS and S3.
func (s *testStore) bucketURL() string {
	if s.provider == providerCOS {
		return s.srv.URL
	}
	return s.srv.URL + "/" + testBucketName
}

// objectURL is key's URL on the store.
func (s *testStore) objectURL(key string) string { return s.bucketURL() + "/" + key }

// env points env (a serverEnv) at the store: the provider's settings, in
// its own names, in place of COS's, COS_TIMEOUT carried over to the
// provider's own. The store's loopback address makes OSS and S3 path-style.
func (s *testStore) env(env map[string]string) map[string]string {
	timeout := env["COS_TIMEOUT"]
	for _, name := range storageProviders[providerCOS].settings() {
		delete(env, name)
	}
	sp := storageProviders[s.provider]
	if timeout != "" {
		env[sp.timeout] = timeout
	}
	env["STORAGE"] = s.provider
	env[sp.bucket], env[sp.region], env[sp.endpoint] = testBucketName, sp.devRegion, s.srv.URL
	env[sp.keyID], env[sp.secret] = testCOSID, testCOSKey
	return env
}

// signatureField is the form field that carries the POST policy's
// signature on each provider.
var signatureField = map[string]string{providerCOS: "q-signature", providerOSS: "x-oss-signature", providerS3: "x-amz-signature"}

// signatureParam is the query parameter that carries a presigned URL's
// signature on each provider.
var signatureParam = map[string]string{providerCOS: "q-signature", providerOSS: "x-oss-signature", providerS3: "X-Amz-Signature"}

// TestPutOnlyStore: a store without POST policy uploads (Cloudflare R2,
// S3_POST_POLICY=false) gets signatures with only a PUT URL; a request
// without size, which no PUT URL can be signed for, is 400 invalid_request
// with reason size_required and records nothing.
func TestPutOnlyStore(t *testing.T) {
	wechat := fakeWeChat(t, testAppID, testAppSecret)
	store := newTestStore(t, providerS3, localcos.Config{}, nil)
	env := store.env(serverEnv(wechat.URL, "", "sqlite:"+filepath.Join(t.TempDir(), "r2.db"), map[string]string{
		"S3_POST_POLICY": "false", "LIMIT_PENDING_UPLOADS": "1",
	}))
	srv := start(t, []string{"serve", "--env-file", ""}, env)
	c := client{t: t, base: srv.api}
	token := c.login("code-r2")
	k := loadContract(t) // every answer checked against openapi.yaml too
	k.base = srv.api

	for i := range 2 { // twice: the refused request left no pending upload behind (LIMIT_PENDING_UPLOADS=1)
		r := k.do(exchange{method: "POST", path: "/v1/avatar/uploads", token: token, body: `{"content_type":"image/png"}`,
			status: 400, code: "invalid_request"})
		var e struct {
			Error struct{ Code, Reason string }
		}
		if err := json.Unmarshal(r.raw, &e); err != nil || r.status != 400 || e.Error.Code != "invalid_request" || e.Error.Reason != "size_required" {
			t.Fatalf("signature %d without size: %d %s; want 400 invalid_request, reason size_required", i+1, r.status, r.raw)
		}
	}
	data := testImage(t, "png")
	r := k.do(exchange{method: "POST", path: "/v1/avatar/uploads", token: token,
		body: fmt.Sprintf(`{"content_type":"image/png","size":%d}`, len(data)), status: 201})
	if r.status != 201 {
		t.Fatalf("signature with size: %d %s", r.status, r.raw)
	}
	var answer struct {
		Upload map[string]json.RawMessage `json:"upload"`
	}
	if err := json.Unmarshal(r.raw, &answer); err != nil {
		t.Fatal(err)
	}
	if _, ok := answer.Upload["post"]; ok {
		t.Errorf("the answer has a post form, which this store cannot take: %s", r.raw)
	}
	var up signedUpload
	if err := json.Unmarshal(answer.Upload["put"], &up.Put); err != nil || up.Put.URL == "" {
		t.Fatalf("the answer has no put: %s", r.raw)
	}
	json.Unmarshal(answer.Upload["id"], &up.ID)
	if got := put(t, up, data, ""); got.status != 200 {
		t.Fatalf("PUT: %+v; want 200", got)
	}
	if r := c.confirm(token, up.ID); r.status != 200 {
		t.Fatalf("confirm: %d %s", r.status, r.raw)
	} else if status, _ := download(t, decodeAs[confirmReply](t, r).User.avatarURL()); status != 200 {
		t.Errorf("avatar download: %d; want 200", status)
	}
}

// TestUnreadableUpload: an upload stored encrypted with a key of the
// client's own (SSE-C; here written with COS's SDK and the service's keys,
// as a store that lets the headers through unsigned would take it) cannot
// be read by confirm: 422 upload_rejected with reason unreadable, checked
// against openapi.yaml, and the object is deleted.
func TestUnreadableUpload(t *testing.T) {
	wechat := fakeWeChat(t, testAppID, testAppSecret)
	store := newTestStore(t, providerCOS, localcos.Config{}, nil)
	srv := start(t, []string{"serve", "--env-file", ""}, store.env(serverEnv(wechat.URL, "", "sqlite:"+filepath.Join(t.TempDir(), "ssec.db"), nil)))
	c := client{t: t, base: srv.api}
	token := c.login("code-ssec")
	k := loadContract(t)
	k.base = srv.api

	data := testImage(t, "png")
	up := c.newSizedUpload(token, "image/png", len(data))
	bucketURL, _ := url.Parse(store.bucketURL())
	sdk := cossdk.NewClient(&cossdk.BaseURL{BucketURL: bucketURL}, &http.Client{Transport: &cossdk.AuthorizationTransport{
		SecretID: testCOSID, SecretKey: testCOSKey}})
	key := bytes.Repeat([]byte{7}, 32)
	sum := md5.Sum(key)
	if _, err := sdk.Object.Put(context.Background(), up.Key, bytes.NewReader(data), &cossdk.ObjectPutOptions{
		ObjectPutHeaderOptions: &cossdk.ObjectPutHeaderOptions{ContentType: "image/png", XCosSSECustomerAglo: "AES256",
			XCosSSECustomerKey: base64.StdEncoding.EncodeToString(key), XCosSSECustomerKeyMD5: base64.StdEncoding.EncodeToString(sum[:])},
	}); err != nil {
		t.Fatalf("storing the upload with a customer key: %v", err)
	}
	r := k.do(exchange{method: "POST", path: "/v1/avatar/uploads/" + up.ID + "/confirm", token: token, status: 422, code: "upload_rejected"})
	var e struct {
		Error struct{ Reason string }
	}
	if err := json.Unmarshal(r.raw, &e); err != nil || e.Error.Reason != "unreadable" {
		t.Errorf("confirm: %s; want reason unreadable", r.raw)
	}
	if _, err := sdk.Object.Head(context.Background(), up.Key, nil); !cossdk.IsNotFoundError(err) {
		t.Errorf("the unreadable upload is still stored: %v", err)
	}
}
