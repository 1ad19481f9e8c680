package cos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wxavatar/wxavatar/internal/testutil"
	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
)

// Hostile uploads with the production signer's signatures, against the local
// object server: a client holding a valid signature tries to set what the
// signature does not pin. (Hostile requests that need no signer, such as
// oversized forms, are in package localcos's tests.)

// hostileUpload is a bucket, a client, and one signed upload of data.
type hostileUpload struct {
	b    *testBucket
	c    *cos.Client
	s    storage.SignedUpload
	key  string
	data []byte
}

func newHostileUpload(t *testing.T) hostileUpload {
	t.Helper()
	b := newTestBucket(t, localcos.Config{})
	c := newClientFor(t, b, testCredentials)
	data := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 40)...)
	spec := clientSpec("avatars/u/hostile.png")
	spec.Size = int64(len(data))
	s, err := c.SignUpload(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return hostileUpload{b: b, c: c, s: s, key: spec.Key, data: data}
}

// post sends the signed form with edit applied, then the file.
func (u hostileUpload) post(t *testing.T, edit func(form map[string]string)) *http.Response {
	t.Helper()
	form := maps.Clone(u.s.PostForm)
	edit(form)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, k := range slices.Sorted(maps.Keys(form)) {
		mw.WriteField(k, form[k])
	}
	fw, _ := mw.CreateFormFile("file", "avatar.png")
	fw.Write(u.data)
	mw.Close()
	req := testutil.MustRequest(t, http.MethodPost, u.s.PostURL, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return testutil.Do(t, req)
}

// assertNothingStored: every refused upload left the key empty.
func (u hostileUpload) assertNothingStored(t *testing.T) {
	t.Helper()
	if _, _, err := u.c.Peek(context.Background(), u.key, 8); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after refused uploads, Peek: %v; want ErrNotFound", err)
	}
	u.b.assertNoTempFiles(t)
}

// cosError reads the status, code and message of an answer (see
// cosErrorDoc).
func cosError(t *testing.T, resp *http.Response) (status int, code, message string) {
	t.Helper()
	code, message = testutil.COSErrorDoc(t, resp)
	return resp.StatusCode, code, message
}

// TestSignedPostRefusesUnpinnedFields: the signed form with one more
// field the policy does not name is refused as S3 refuses it, 403
// AccessDenied "Extra input fields"; a pinned field given another value fails
// its condition.
func TestSignedPostRefusesUnpinnedFields(t *testing.T) {
	u := newHostileUpload(t)
	for _, tt := range []struct {
		field, value string
		wantStatus   int
		wantCode     string
		wantMessage  string // contained in the message
	}{
		{"success_action_redirect", "https://evil.example/phish", 403, "AccessDenied", "Extra input fields: success_action_redirect."},
		{"x-cos-acl", "public-read", 403, "AccessDenied", "Extra input fields: x-cos-acl."},
		{"x-cos-grant-read", `id="100000000001"`, 403, "AccessDenied", "Extra input fields: x-cos-grant-read."},
		{"x-cos-grant-full-control", `id="100000000001"`, 403, "AccessDenied", "Extra input fields: x-cos-grant-full-control."},
		{"Content-Disposition", `attachment; filename="a.html"`, 403, "AccessDenied", "Extra input fields: content-disposition."},
		{"Content-Encoding", "gzip", 403, "AccessDenied", "Extra input fields: content-encoding."},
		{"Cache-Control", "public, max-age=31536000", 403, "AccessDenied", "Extra input fields: cache-control."},
		{"Expires", "Thu, 01 Jan 2099 00:00:00 GMT", 403, "AccessDenied", "Extra input fields: expires."},
		{"x-cos-meta-foo", "bar", 403, "AccessDenied", "Extra input fields: x-cos-meta-foo."},
		{"x-cos-forbid-overwrite", "true", 403, "AccessDenied", "Extra input fields: x-cos-forbid-overwrite."},
		{"x-ignore-foo", "bar", 403, "AccessDenied", "Extra input fields: x-ignore-foo."},
		// Pinned fields with another value fail their condition.
		{"acl", "public-read", 403, "AccessDenied", "Policy Condition failed: eq $acl."},
		{"x-cos-storage-class", "ARCHIVE", 403, "AccessDenied", "Policy Condition failed: eq $x-cos-storage-class."},
		{"success_action_status", "201", 403, "AccessDenied", "Policy Condition failed: eq $success_action_status."},
		// The same field twice, in another case, is refused before any of it.
		{"X-COS-STORAGE-CLASS", "STANDARD", 400, "InvalidArgument", "appears more than once"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			resp := u.post(t, func(form map[string]string) { form[tt.field] = tt.value })
			status, code, message := cosError(t, resp)
			if status != tt.wantStatus || code != tt.wantCode || !strings.Contains(message, tt.wantMessage) {
				t.Errorf("got %d %s %q; want %d %s containing %q", status, code, message, tt.wantStatus, tt.wantCode, tt.wantMessage)
			}
		})
	}
	resp := u.post(t, func(form map[string]string) {
		for i := range 12 {
			form[fmt.Sprintf("x-cos-meta-%02d-%s", i, strings.Repeat("n", 100))] = "v"
		}
	})
	if _, _, message := cosError(t, resp); !strings.Contains(message, "and 4 more.") || len(message) > 800 {
		t.Errorf("twelve extra fields: message %q; want eight names cut short and \"and 4 more\"", message)
	}
	u.assertNothingStored(t)
	if got := uploadWithForm(t, u.s, u.data); got != http.StatusNoContent {
		t.Errorf("the signed form as given: %d; want 204", got)
	}
}

// put sends the presigned PUT with its signed headers and edit applied.
func (u hostileUpload) put(t *testing.T, edit func(h http.Header)) *http.Response {
	t.Helper()
	req := testutil.MustRequest(t, http.MethodPut, u.s.PutURL, bytes.NewReader(u.data))
	for k, v := range u.s.PutHeaders {
		req.Header.Set(k, v)
	}
	edit(req.Header)
	return testutil.Do(t, req)
}

// TestSignedPutRefusesUnsignedHeaders: the presigned PUT with one more
// header the object would be stored or served with is refused unless the
// signature covers it; a signed header given another value does not verify.
func TestSignedPutRefusesUnsignedHeaders(t *testing.T) {
	u := newHostileUpload(t)
	for _, tt := range []struct {
		header, value string
		wantCode      string
		wantMessage   string // contained in the message
	}{
		{"Cache-Control", "public, max-age=31536000", "AccessDenied", "not signed: cache-control."},
		{"Content-Disposition", `attachment; filename="a.html"`, "AccessDenied", "not signed: content-disposition."},
		{"Content-Encoding", "gzip", "AccessDenied", "not signed: content-encoding."},
		{"Expires", "Thu, 01 Jan 2099 00:00:00 GMT", "AccessDenied", "not signed: expires."},
		{"x-cos-meta-foo", "bar", "AccessDenied", "not signed: x-cos-meta-foo."},
		{"x-cos-grant-read", `id="100000000001"`, "AccessDenied", "not signed: x-cos-grant-read."},
		{"x-cos-grant-full-control", `id="100000000001"`, "AccessDenied", "not signed: x-cos-grant-full-control."},
		{"x-cos-tagging", "a=b", "AccessDenied", "not signed: x-cos-tagging."},
		{"success_action_redirect", "https://evil.example/", "", ""}, // not a header COS reads on a PUT
		// Signed headers given another value.
		{"x-cos-acl", "public-read", "SignatureDoesNotMatch", "does not match"},
		{"x-cos-storage-class", "ARCHIVE", "SignatureDoesNotMatch", "does not match"},
		{"Content-Type", "text/html", "SignatureDoesNotMatch", "does not match"},
	} {
		t.Run(tt.header, func(t *testing.T) {
			resp := u.put(t, func(h http.Header) { h.Set(tt.header, tt.value) })
			status, code, message := cosError(t, resp)
			wantStatus := 403
			if tt.wantCode == "" {
				wantStatus = 200
			}
			if status != wantStatus || code != tt.wantCode || !strings.Contains(message, tt.wantMessage) {
				t.Errorf("got %d %s %q; want %d %s containing %q", status, code, message, wantStatus, tt.wantCode, tt.wantMessage)
			}
			if status == 200 {
				if err := u.c.Delete(context.Background(), u.key); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	u.assertNothingStored(t)
	if got := uploadWithPut(t, u.s, u.data); got != http.StatusOK {
		t.Errorf("the signed PUT as given: %d; want 200", got)
	}
}
