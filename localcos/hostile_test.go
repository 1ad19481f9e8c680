package localcos

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"
	"github.com/wxavatar/wxavatar/internal/testutil"
)

// Hostile requests against the local object server: a client tries to make
// the server parse a large form before any signature is checked, to add
// headers after signing, or to get a multipart/byteranges answer. (Hostile
// uploads made with the production signer's own signatures are in package
// storage's tests.)

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
	req := testutil.MustRequest(t, http.MethodPost, b.postURL(), &f.body)
	req.Header.Set("Content-Type", f.mw.FormDataContentType())
	resp := testutil.Do(t, req)
	return resp.StatusCode, b.errorCode(t, resp)
}

// TestLocalServerPostBoundsTheForm: what precedes the file is read before
// any signature is checked, so the number of parts, each part's header, each
// field, all fields, and every byte before the file are bounded, with COS's
// MaxPostPreDataLengthExceededError.
func TestLocalServerPostBoundsTheForm(t *testing.T) {
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testPostBoundsTheForm(t, proto) })
	}
}

func testPostBoundsTheForm(t *testing.T, proto Protocol) {
	b := newProtocolBucket(t, proto, Config{})
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

// TestLocalServerSignedWritesCoverTheirHeaders: the same holds for requests
// signed in the Authorization header, PUT and copy alike: a header added
// after signing is refused, one the SDK signed is stored.
func TestLocalServerSignedWritesCoverTheirHeaders(t *testing.T) {
	b := newTestBucket(t, Config{})
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
			req := testutil.MustRequest(t, http.MethodPut, b.srv.URL+"/dst.png", body)
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
			resp := testutil.Do(t, req)
			if code := testutil.COSErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
				t.Errorf("got %d %q; want %d %q", resp.StatusCode, code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			// What was signed is stored and served.
			head := testutil.Do(t, testutil.MustRequest(t, http.MethodHead, b.srv.URL+"/dst.png", nil))
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
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testServesOneRange(t, proto) })
	}
}

func testServesOneRange(t *testing.T, proto Protocol) {
	b := newProtocolBucket(t, proto, Config{})
	b.put(t, "r.txt", []byte("0123456789"), http.Header{"Content-Type": {"text/plain"}})
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
		req := testutil.MustRequest(t, http.MethodGet, b.objectURL("r.txt"), nil)
		req.Header["Range"] = tt.ranges
		resp := testutil.Do(t, req)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody || resp.Header.Get("Content-Range") != tt.wantCR ||
			resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("Range %q: %d %q, Content-Range %q, Content-Type %q; want %d %q, %q, text/plain", tt.ranges,
				resp.StatusCode, body, resp.Header.Get("Content-Range"), resp.Header.Get("Content-Type"), tt.wantStatus, tt.wantBody, tt.wantCR)
		}
	}
}
