package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"
)

// Hostile uploads against the local object server: a client holding a valid
// signature tries to set what the signature does not pin, or to make the
// server parse a large form before any signature is checked.

// hostileUpload is a bucket, a client, and one signed upload of data.
type hostileUpload struct {
	b    *testBucket
	c    *Client
	s    SignedUpload
	key  string
	data []byte
}

func newHostileUpload(t *testing.T) hostileUpload {
	t.Helper()
	b := newTestBucket(t, LocalServerConfig{})
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
	req := mustRequest(t, http.MethodPost, u.s.PostURL, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return do(t, req)
}

// assertNothingStored: every refused upload left the key empty.
func (u hostileUpload) assertNothingStored(t *testing.T) {
	t.Helper()
	if _, _, err := u.c.Peek(context.Background(), u.key, 8); !errors.Is(err, ErrNotFound) {
		t.Errorf("after refused uploads, Peek: %v; want ErrNotFound", err)
	}
	u.b.assertNoTempFiles(t)
}

// cosError reads the status, code and message of an answer (see
// cosErrorDoc).
func cosError(t *testing.T, resp *http.Response) (status int, code, message string) {
	t.Helper()
	code, message = cosErrorDoc(t, resp)
	return resp.StatusCode, code, message
}

// TestLocalServerPostRefusesUnpinnedFields: the signed form with one more
// field the policy does not name is refused as S3 refuses it, 403
// AccessDenied "Extra input fields"; a pinned field given another value fails
// its condition.
func TestLocalServerPostRefusesUnpinnedFields(t *testing.T) {
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

// rawForm is a multipart body built part by part, for forms no client
// library would write.
type rawForm struct {
	body bytes.Buffer
	mw   *multipart.Writer
}

func newRawForm() *rawForm {
	f := &rawForm{}
	f.mw = multipart.NewWriter(&f.body)
	return f
}

func (f *rawForm) part(t *testing.T, header textproto.MIMEHeader, body []byte) *rawForm {
	t.Helper()
	w, err := f.mw.CreatePart(header)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	return f
}

func (f *rawForm) field(t *testing.T, name, value string) *rawForm {
	t.Helper()
	return f.part(t, textproto.MIMEHeader{"Content-Disposition": {`form-data; name="` + name + `"`}}, []byte(value))
}

func (f *rawForm) send(t *testing.T, b *testBucket) (int, string) {
	t.Helper()
	w, _ := f.mw.CreateFormFile("file", "a.png")
	w.Write([]byte("png"))
	f.mw.Close()
	req := mustRequest(t, http.MethodPost, b.srv.URL+"/", &f.body)
	req.Header.Set("Content-Type", f.mw.FormDataContentType())
	resp := do(t, req)
	return resp.StatusCode, cosErrorOf(t, resp)
}

// TestLocalServerPostBoundsTheForm: what precedes the file is read before
// any signature is checked, so the number of parts, each part's header, each
// field, all fields, and every byte before the file are bounded, with COS's
// MaxPostPreDataLengthExceededError.
func TestLocalServerPostBoundsTheForm(t *testing.T) {
	b := newTestBucket(t, LocalServerConfig{})
	const code = "MaxPostPreDataLengthExceededError"
	tests := []struct {
		name string
		form func(t *testing.T) *rawForm
	}{
		{"65 parts before the file", func(t *testing.T) *rawForm {
			f := newRawForm()
			for i := range 65 {
				f.field(t, fmt.Sprintf("x-cos-meta-%d", i), "v")
			}
			return f
		}},
		{"65 unnamed parts before the file", func(t *testing.T) *rawForm {
			f := newRawForm()
			for range 65 {
				f.part(t, textproto.MIMEHeader{"X-Pad": {"1"}}, []byte("v"))
			}
			return f
		}},
		{"a 9 KiB part header", func(t *testing.T) *rawForm {
			return newRawForm().part(t, textproto.MIMEHeader{
				"Content-Disposition": {`form-data; name="key"`}, "X-Pad": {strings.Repeat("p", 9<<10)}}, []byte("k"))
		}},
		{"a 9 KiB field name", func(t *testing.T) *rawForm {
			return newRawForm().field(t, strings.Repeat("n", 9<<10), "v")
		}},
		{"a 2 MiB part header", func(t *testing.T) *rawForm {
			return newRawForm().part(t, textproto.MIMEHeader{
				"Content-Disposition": {`form-data; name="key"`}, "X-Pad": {strings.Repeat("p", 2<<20)}}, []byte("k"))
		}},
		{"an unnamed 2 MiB part", func(t *testing.T) *rawForm {
			return newRawForm().part(t, textproto.MIMEHeader{"X-Pad": {"1"}}, bytes.Repeat([]byte("p"), 2<<20))
		}},
		{"a 65 KiB field", func(t *testing.T) *rawForm {
			return newRawForm().field(t, "key", strings.Repeat("k", 65<<10))
		}},
		{"five 60 KiB fields", func(t *testing.T) *rawForm {
			f := newRawForm()
			for i := range 5 {
				f.field(t, fmt.Sprintf("x-cos-meta-%d", i), strings.Repeat("v", 60<<10))
			}
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, got := tt.form(t).send(t, b); status != 400 || got != code {
				t.Errorf("got %d %q; want 400 %s", status, got, code)
			}
		})
	}
	// Within the bounds, an unsigned form gets as far as the signature check.
	f := newRawForm()
	for i := range 60 {
		f.field(t, fmt.Sprintf("x-cos-meta-%d", i), strings.Repeat("v", 4<<10))
	}
	f.part(t, textproto.MIMEHeader{"Content-Disposition": {`form-data; name="key"`}, "X-Pad": {strings.Repeat("p", 7<<10)}}, []byte("k"))
	if status, got := f.send(t, b); status != 403 || got != "AccessDenied" {
		t.Errorf("a form within the bounds, unsigned: %d %q; want 403 AccessDenied", status, got)
	}
	b.assertNoTempFiles(t)
}

// put sends the presigned PUT with its signed headers and edit applied.
func (u hostileUpload) put(t *testing.T, edit func(h http.Header)) *http.Response {
	t.Helper()
	req := mustRequest(t, http.MethodPut, u.s.PutURL, bytes.NewReader(u.data))
	for k, v := range u.s.PutHeaders {
		req.Header.Set(k, v)
	}
	edit(req.Header)
	return do(t, req)
}

// TestLocalServerPutRefusesUnsignedHeaders: the presigned PUT with one more
// header the object would be stored or served with is refused unless the
// signature covers it; a signed header given another value does not verify.
func TestLocalServerPutRefusesUnsignedHeaders(t *testing.T) {
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
				if _, err := u.c.cos.Object.Delete(context.Background(), u.key); err != nil {
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

// TestLocalServerSignedWritesCoverTheirHeaders: the same holds for requests
// signed in the Authorization header, PUT and copy alike: a header added
// after signing is refused, one the SDK signed is stored.
func TestLocalServerSignedWritesCoverTheirHeaders(t *testing.T) {
	b := newTestBucket(t, LocalServerConfig{})
	if err := putWith(t, b.client(testCredentials), "src.png", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		copy       bool
		signed     map[string]string
		added      map[string]string // after signing
		wantStatus int
		wantCode   string
	}{
		{name: "PUT, all signed", signed: map[string]string{"Content-Type": "image/png", "Cache-Control": "no-cache", "x-cos-meta-a": "1"}, wantStatus: 200},
		{name: "PUT, Cache-Control added", signed: map[string]string{"Content-Type": "image/png"},
			added: map[string]string{"Cache-Control": "max-age=31536000"}, wantStatus: 403, wantCode: "AccessDenied"},
		{name: "PUT, x-cos-acl added", signed: map[string]string{"Content-Type": "image/png"},
			added: map[string]string{"x-cos-acl": "public-read"}, wantStatus: 403, wantCode: "AccessDenied"},
		{name: "copy, all signed", copy: true, signed: map[string]string{"x-cos-metadata-directive": "Replaced", "Content-Type": "image/png"}, wantStatus: 200},
		{name: "copy, x-cos-meta added", copy: true, signed: map[string]string{"x-cos-metadata-directive": "Replaced"},
			added: map[string]string{"x-cos-meta-a": "1"}, wantStatus: 403, wantCode: "AccessDenied"},
		{name: "copy, Content-Disposition added", copy: true, signed: map[string]string{"x-cos-metadata-directive": "Replaced"},
			added: map[string]string{"Content-Disposition": "attachment"}, wantStatus: 403, wantCode: "AccessDenied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader("png bytes")
			if tt.copy {
				body = nil
			}
			req := mustRequest(t, http.MethodPut, b.srv.URL+"/dst.png", body)
			if tt.copy {
				req.Header.Set("x-cos-copy-source", b.url.Host+"/src.png")
			}
			for k, v := range tt.signed {
				req.Header.Set(k, v)
			}
			cosAddAuthorization(req)
			for k, v := range tt.added {
				req.Header.Set(k, v)
			}
			resp := do(t, req)
			if code := cosErrorOf(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
				t.Errorf("got %d %q; want %d %q", resp.StatusCode, code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			// What was signed is stored and served.
			head := do(t, mustRequest(t, http.MethodHead, b.srv.URL+"/dst.png", nil))
			head.Body.Close()
			for k, v := range tt.signed {
				if k != "x-cos-metadata-directive" && head.Header.Get(k) != v {
					t.Errorf("%s served as %q; want %q, as signed", k, head.Header.Get(k), v)
				}
			}
		})
	}
}

// cosAddAuthorization signs req as cos-go-sdk-v5 signs every request.
func cosAddAuthorization(req *http.Request) {
	cos.AddAuthorizationHeader(testCredentials.SecretID, testCredentials.SecretKey, "", req, cos.NewAuthTime(time.Minute))
}

// TestLocalServerServesOneRange: one byte range is served as 206; a list of
// ranges, or several Range headers, get the whole object with 200, never a
// multipart/byteranges answer.
func TestLocalServerServesOneRange(t *testing.T) {
	b := newTestBucket(t, LocalServerConfig{})
	_, err := b.client(testCredentials).Object.Put(context.Background(), "r.txt", strings.NewReader("0123456789"),
		&cos.ObjectPutOptions{ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{ContentType: "text/plain"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ranges           []string
		wantStatus       int
		wantBody, wantCR string
	}{
		{[]string{"bytes=2-4"}, 206, "234", "bytes 2-4/10"},
		{[]string{"bytes=7-"}, 206, "789", "bytes 7-9/10"},
		{[]string{"bytes=0-1,5-6"}, 200, "0123456789", ""},
		{[]string{"bytes=0-1, 0-1, 0-1"}, 200, "0123456789", ""},
		{[]string{"bytes=0-1", "bytes=5-6"}, 200, "0123456789", ""},
	} {
		req := mustRequest(t, http.MethodGet, b.srv.URL+"/r.txt", nil)
		req.Header["Range"] = tt.ranges
		resp := do(t, req)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody || resp.Header.Get("Content-Range") != tt.wantCR ||
			resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("Range %q: %d %q, Content-Range %q, Content-Type %q; want %d %q, %q, text/plain", tt.ranges,
				resp.StatusCode, body, resp.Header.Get("Content-Range"), resp.Header.Get("Content-Type"), tt.wantStatus, tt.wantBody, tt.wantCR)
		}
	}
}
