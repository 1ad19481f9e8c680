package handler

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestNewUploadJSON: the signature's answer written without reflection is
// byte for byte what c.JSON writes for it, strings that need escaping and
// missing maps included.
func TestNewUploadJSON(t *testing.T) {
	for _, u := range []newUploadJSON{
		{
			ID: "3ocd4fqc2abcdefghijklmnopq", Key: "avatars/u/3ocd4fqc2abcdefghijklmnopq.png", ExpiresAt: "2026-11-25T10:10:00Z",
			MaxBytes: 5 << 20, URL: "https://cdn.example.com/avatars/u/x/avatar.png",
			Post: &postJSON{URL: "https://b.cos.ap-shanghai.myqcloud.com/", FileField: "file",
				Form: map[string]string{"key": "k", "policy": "eyJ+/=", "q-ak": "AKID", "Content-Type": "image/png", "q-key-time": "1;2"}},
			Put: &putJSON{URL: "https://b.cos.ap-shanghai.myqcloud.com/k?q-ak=AKID&q-sign-time=1%3B2",
				Headers: map[string]string{"Content-Type": "image/png", "Content-Length": "34567"}},
		},
		{ID: "odd \"<&>\" \\ é \x01 \u2028", MaxBytes: -1, Put: &putJSON{}},
		{ID: "no size declared, so no put", Post: &postJSON{Form: map[string]string{}}},
		{ID: "a store without POST uploads: only put", Put: &putJSON{URL: "https://acc.r2.cloudflarestorage.com/b/k?X-Amz-Signature=1",
			Headers: map[string]string{"Content-Type": "image/png", "Content-Length": "1"}}},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(map[string]newUploadJSON{"upload": u}); err != nil {
			t.Fatal(err)
		}
		if got := u.appendJSON(nil); string(got) != want.String() {
			t.Errorf("appendJSON:\n got %s\nwant %s", got, want.String())
		}
	}
}

// TestCreateUploadAnswerForms: the signature's answer is compact JSON, and
// indented under Echo's ?pretty, each with the upload's id, policy and
// signature (TestNewUploadJSON compares the compact bytes with
// encoding/json's).
func TestCreateUploadAnswerForms(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, _ := ta.login(t, "erin")
	plain := ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/png"}`)
	pretty := ta.do(t, "POST", "/v1/avatar/uploads?pretty", token, `{"content_type":"image/png"}`)
	for name, a := range map[string]answer{"plain": plain, "pretty": pretty} {
		if a.status != 201 || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d, Content-Type %q; want 201 application/json: %s", name, a.status, a.header.Get("Content-Type"), a.raw)
		}
		up := decode[newUploadResponse](t, a).Upload
		if up.ID == "" || up.Post.Form["policy"] == "" || up.Post.Form["q-signature"] == "" {
			t.Errorf("%s: answer lacks id, policy or signature: %s", name, a.raw)
		}
		if strings.Contains(a.raw, `"put"`) { // no size declared: nothing could pin a PUT's
			t.Errorf("%s: answer without a declared size has a put: %s", name, a.raw)
		}
	}
	if strings.Contains(plain.raw, "\n  ") || !strings.HasSuffix(plain.raw, "}\n") {
		t.Errorf("plain answer is not one compact line: %q", plain.raw)
	}
	if !strings.Contains(pretty.raw, "\n  ") {
		t.Errorf("?pretty answer is not indented: %q", pretty.raw)
	}
}

// BenchmarkNewUploadJSON compares the signature's answer written by
// appendJSON with encoding/json's, which c.JSON uses.
func BenchmarkNewUploadJSON(b *testing.B) {
	u := newUploadJSON{
		ID: "3ocd4fqc2abcdefghijklmnopq", Key: "uploads/u/3ocd4fqc2abcdefghijklmnopq.png", ExpiresAt: "2026-11-25T10:10:00Z",
		MaxBytes: 5 << 20, URL: "https://cdn.example.com/avatars/u/3ocd4fqc2abcdefghijklmnopq/avatar.png",
		Post: &postJSON{URL: "https://b.cos.ap-shanghai.myqcloud.com/", FileField: "file", Form: map[string]string{
			"key": "uploads/u/3ocd4fqc2abcdefghijklmnopq.png", "policy": strings.Repeat("eyJ", 200), "q-ak": "AKIDEXAMPLE",
			"Content-Type": "image/png", "q-key-time": "1;2", "q-sign-algorithm": "sha1", "q-signature": strings.Repeat("a", 40),
			"acl": "private", "x-cos-storage-class": "STANDARD", "success_action_status": "204"}},
		Put: &putJSON{URL: "https://b.cos.ap-shanghai.myqcloud.com/k?q-sign-algorithm=sha1&q-ak=AKID&q-sign-time=1%3B2&q-signature=" + strings.Repeat("a", 40),
			Headers: map[string]string{"Content-Type": "image/png", "Content-Length": "34567", "x-cos-acl": "private", "x-cos-storage-class": "STANDARD"}},
	}
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = u.appendJSON(make([]byte, 0, 2048))
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			_ = json.NewEncoder(&buf).Encode(map[string]newUploadJSON{"upload": u})
		}
	})
}
