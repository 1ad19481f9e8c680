package s3_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/s3"
)

const (
	testBucket = "wxavatar-test"
	testRegion = "us-west-2"
)

var (
	testCredentials = storage.Credentials{SecretID: "AKIDS3LOCALTEST", SecretKey: "s3-local-test-secret-key"}
	stsCredentials  = storage.Credentials{SecretID: "ASIAS3TEMPORARY", SecretKey: "s3-temporary-secret",
		SessionToken: "FwoGZXIvYXdzEJr//////////wEaDH7+token/with+slash=="}
)

func secretsOf(creds ...storage.Credentials) map[string]string {
	m := map[string]string{}
	for _, c := range creds {
		m[c.SecretID] = c.SecretKey
	}
	return m
}

// newSigner is a client for signing only: nothing listens at its endpoint.
func newSigner(t *testing.T, cred storage.Credentials, postPolicy bool) *s3.Client {
	t.Helper()
	c, err := s3.New(s3.Config{Endpoint: mustParse(t, "http://127.0.0.1:9000"), Bucket: testBucket, Region: testRegion,
		PathStyle: true, PostPolicy: postPolicy, Credentials: cred})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func uploadSpec(key string, size int64) storage.UploadSpec {
	now := time.Now().Truncate(time.Second)
	return storage.UploadSpec{Key: key, ContentType: "image/png", MaxBytes: 100, Size: size,
		NotBefore: now.Add(-time.Minute), Expires: now.Add(10 * time.Minute)}
}

// putRequest is the request a mini program makes with the signed PUT: the
// URL, the headers as given, and body.
func putRequest(t *testing.T, s storage.SignedUpload, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.PutURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s.PutHeaders {
		if k != "Content-Length" { // net/http sends the body's length
			req.Header.Set(k, v)
		}
	}
	return req
}

// TestPresignedPutSignsHeaders: the PUT URL signs host, Content-Type, the
// declared Content-Length and x-amz-storage-class STANDARD; the signature
// verifies for exactly the request the client is told to send, and for no
// other length, type or class.
func TestPresignedPutSignsHeaders(t *testing.T) {
	for name, cred := range map[string]storage.Credentials{"permanent": testCredentials, "sts": stsCredentials} {
		t.Run(name, func(t *testing.T) {
			c := newSigner(t, cred, true)
			data := bytes.Repeat([]byte{7}, 48)
			spec := uploadSpec("uploads/u1/a b(1).png", int64(len(data)))
			s, err := c.SignUpload(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			u := mustParse(t, s.PutURL)
			if got, want := u.Scheme+"://"+u.Host+u.EscapedPath(), "http://127.0.0.1:9000/"+testBucket+"/uploads/u1/a%20b%281%29.png"; got != want {
				t.Errorf("PUT URL addresses %s; want %s", got, want)
			}
			q := u.Query()
			if got, want := q.Get("X-Amz-SignedHeaders"), "content-length;content-type;host;x-amz-storage-class"; got != want {
				t.Errorf("X-Amz-SignedHeaders = %q; want %q", got, want)
			}
			if want := map[string]string{"Content-Type": "image/png", "Content-Length": "48", "x-amz-storage-class": "STANDARD"}; !maps.Equal(s.PutHeaders, want) {
				t.Errorf("PutHeaders = %v; want %v", s.PutHeaders, want)
			}
			if got, want := q.Get("X-Amz-Credential"), cred.SecretID+"/"+q.Get("X-Amz-Date")[:8]+"/"+testRegion+"/s3/aws4_request"; got != want {
				t.Errorf("X-Amz-Credential = %q; want %q", got, want)
			}
			// The token is a query parameter, so it is signed with the rest.
			if got := q.Get("X-Amz-Security-Token"); got != cred.SessionToken {
				t.Errorf("X-Amz-Security-Token = %q; want %q", got, cred.SessionToken)
			}
			secrets, now := secretsOf(cred), time.Now()
			if err := verifyPresigned(putRequest(t, s, data), secrets, now); err != nil {
				t.Fatalf("the PUT as signed: %v", err)
			}
			for what, edit := range map[string]func(*http.Request){
				"one byte more":       func(r *http.Request) { r.ContentLength++ },
				"one byte less":       func(r *http.Request) { r.ContentLength-- },
				"another type":        func(r *http.Request) { r.Header.Set("Content-Type", "text/html") },
				"another class":       func(r *http.Request) { r.Header.Set("x-amz-storage-class", "GLACIER") },
				"no class":            func(r *http.Request) { r.Header.Del("x-amz-storage-class") },
				"another key":         func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "a b", "c d", 1) },
				"another host":        func(r *http.Request) { r.Host = "127.0.0.1:9001" },
				"a longer expiry":     func(r *http.Request) { setQuery(r, "X-Amz-Expires", "604800") },
				"an added ACL param":  func(r *http.Request) { setQuery(r, "x-amz-acl", "public-read") },
				"another credential":  func(r *http.Request) { setQuery(r, "X-Amz-Security-Token", "other") },
				"a date a second off": func(r *http.Request) { setQuery(r, "X-Amz-Date", shiftDate(t, r.URL.Query().Get("X-Amz-Date"))) },
			} {
				r := putRequest(t, s, data)
				edit(r)
				if err := verifyPresigned(r, secrets, now); err == nil {
					t.Errorf("%s: the signature still verifies", what)
				}
			}
		})
	}
}

func setQuery(r *http.Request, k, v string) {
	q := r.URL.Query()
	q.Set(k, v)
	r.URL.RawQuery = q.Encode()
}

func shiftDate(t *testing.T, amzDate string) string {
	t.Helper()
	d, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		t.Fatal(err)
	}
	return d.Add(-time.Second).Format(amzDateLayout)
}

// TestSignaturesEndAtExpiry: the PUT URL's X-Amz-Date + X-Amz-Expires is
// spec.Expires to the second, whatever fraction of a second Expires or the
// clock is at; the form's policy expires at spec.Expires itself.
func TestSignaturesEndAtExpiry(t *testing.T) {
	c := newSigner(t, testCredentials, true)
	for i := range 40 {
		spec := uploadSpec("uploads/k.png", 10)
		// Fractions of a second on Expires, and signatures spread over
		// more than one second of the clock.
		spec.Expires = spec.Expires.Add(time.Duration(i) * 37 * time.Millisecond)
		time.Sleep(time.Duration(i%3) * 11 * time.Millisecond)
		s, err := c.SignUpload(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		q := mustParse(t, s.PutURL).Query()
		date, err := time.Parse(amzDateLayout, q.Get("X-Amz-Date"))
		if err != nil {
			t.Fatal(err)
		}
		secs, _ := strconv.Atoi(q.Get("X-Amz-Expires"))
		if end := date.Add(time.Duration(secs) * time.Second); !end.Equal(spec.Expires.Truncate(time.Second)) {
			t.Fatalf("PUT URL ends at %s; want %s", end, spec.Expires.Truncate(time.Second))
		}
		if got, want := decodePolicy(t, s.PostForm["policy"]).Expiration, spec.Expires.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Fatalf("policy expiration = %s; want %s", got, want)
		}
	}
	// Past the end, the URL no longer verifies.
	spec := uploadSpec("uploads/k.png", 10)
	s, err := c.SignUpload(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	r := putRequest(t, s, make([]byte, 10))
	if err := verifyPresigned(r, secretsOf(testCredentials), spec.Expires); err != nil {
		t.Errorf("at its expiry: %v; want it still valid", err)
	}
	if err := verifyPresigned(r, secretsOf(testCredentials), spec.Expires.Add(time.Second)); err == nil {
		t.Error("a second after its expiry the PUT URL still verifies")
	}
	for name, end := range map[string]time.Time{"in half a second": time.Now().Add(500 * time.Millisecond), "in the past": time.Now().Add(-time.Minute)} {
		spec := uploadSpec("uploads/k.png", 10)
		spec.NotBefore, spec.Expires = end.Add(-time.Hour), end
		if _, err := c.SignUpload(context.Background(), spec); err == nil {
			t.Errorf("expiring %s: signed", name)
		}
	}
	spec = uploadSpec("uploads/k.png", 10)
	spec.Expires = time.Now().Add(8 * 24 * time.Hour)
	if _, err := c.SignUpload(context.Background(), spec); err == nil {
		t.Error("a PUT URL valid 8 days was signed; SigV4 allows 7")
	}
}

type policyDoc struct {
	Expiration string `json:"expiration"`
	Conditions []any  `json:"conditions"`
}

func decodePolicy(t *testing.T, b64 string) policyDoc {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var p policyDoc
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("policy %s is not JSON: %v", raw, err)
	}
	return p
}

// TestPostPolicyConditions: the policy's conditions, exactly; the form is
// one field per condition (values equal) plus policy and x-amz-signature,
// which verifies.
func TestPostPolicyConditions(t *testing.T) {
	for name, cred := range map[string]storage.Credentials{"permanent": testCredentials, "sts": stsCredentials} {
		t.Run(name, func(t *testing.T) {
			c := newSigner(t, cred, true)
			spec := uploadSpec("uploads/u1/x (1).webp", 0)
			spec.ContentType, spec.MaxBytes = "image/webp", 5<<20
			s, err := c.SignUpload(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if s.PutURL != "" || s.PutHeaders != nil {
				t.Errorf("without a size: PUT %q %v; want none", s.PutURL, s.PutHeaders)
			}
			if want := "http://127.0.0.1:9000/" + testBucket + "/"; s.PostURL != want {
				t.Errorf("PostURL = %s; want %s", s.PostURL, want)
			}
			form := s.PostForm
			p := decodePolicy(t, form["policy"])
			credential := form["x-amz-credential"]
			amzDate := form["x-amz-date"]
			want := []any{
				[]any{"eq", "$bucket", testBucket},
				[]any{"eq", "$key", spec.Key},
				[]any{"eq", "$Content-Type", "image/webp"},
				[]any{"eq", "$success_action_status", "204"},
				[]any{"eq", "$x-amz-date", amzDate},
				[]any{"eq", "$x-amz-algorithm", "AWS4-HMAC-SHA256"},
				[]any{"eq", "$x-amz-credential", credential},
			}
			if cred.SessionToken != "" {
				want = append(want, []any{"eq", "$x-amz-security-token", cred.SessionToken})
			}
			want = append(want, []any{"content-length-range", json.Number("1"), json.Number(strconv.Itoa(5 << 20))})
			if got, _ := json.Marshal(p.Conditions); string(got) != string(mustJSON(t, want)) {
				t.Errorf("conditions =\n%s\nwant\n%s", got, mustJSON(t, want))
			}
			if got, want := credential, cred.SecretID+"/"+amzDate[:8]+"/"+testRegion+"/s3/aws4_request"; got != want {
				t.Errorf("x-amz-credential = %s; want %s", got, want)
			}
			if d, err := time.Parse(amzDateLayout, amzDate); err != nil || time.Since(d) > time.Minute || time.Until(d) > time.Second {
				t.Errorf("x-amz-date = %s; want the time of signing", amzDate)
			}
			// Every field the client sends is named by exactly one eq
			// condition with its value, but policy and x-amz-signature.
			named := map[string]string{}
			for _, c := range p.Conditions[:len(p.Conditions)-1] {
				cond := c.([]any)
				named[strings.TrimPrefix(cond[1].(string), "$")] = cond[2].(string)
			}
			fields := maps.Clone(form)
			delete(fields, "policy")
			delete(fields, "x-amz-signature")
			if !maps.Equal(fields, named) {
				t.Errorf("form fields %v; want exactly the conditions' %v", fields, named)
			}
			sig, err := postSignature(cred.SecretKey, credential, form["policy"])
			if err != nil || form["x-amz-signature"] != sig {
				t.Errorf("x-amz-signature = %s; want %s (%v)", form["x-amz-signature"], sig, err)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignUploadWithoutPostPolicy: a store that takes no POST uploads (R2)
// gets only the PUT, and an upload without a declared size cannot be signed.
func TestSignUploadWithoutPostPolicy(t *testing.T) {
	c := newSigner(t, testCredentials, false)
	s, err := c.SignUpload(context.Background(), uploadSpec("uploads/k.png", 10))
	if err != nil {
		t.Fatal(err)
	}
	if s.PostURL != "" || s.PostForm != nil || s.PutURL == "" {
		t.Errorf("SignUpload = %+v; want a PUT alone", s)
	}
	if _, err := c.SignUpload(context.Background(), uploadSpec("uploads/k.png", 0)); !errors.Is(err, storage.ErrSizeRequired) {
		t.Errorf("without a size: %v; want storage.ErrSizeRequired", err)
	}
}

// TestSignUploadRefusesWhatThePolicyCannotHold: minio-go writes policy
// values without escaping them, so a quote, backslash or control character
// in the key or type (or a spec that is not valid) is refused, never
// signed.
func TestSignUploadRefusesWhatThePolicyCannotHold(t *testing.T) {
	c := newSigner(t, testCredentials, true)
	for name, edit := range map[string]func(*storage.UploadSpec){
		"quote in key":         func(s *storage.UploadSpec) { s.Key = `uploads/a","x":"` },
		"backslash in key":     func(s *storage.UploadSpec) { s.Key = `uploads/a\` },
		"newline in type":      func(s *storage.UploadSpec) { s.ContentType = "image/png\nx-amz-acl: public-read" },
		"quote in type":        func(s *storage.UploadSpec) { s.ContentType = `image/png"` },
		"size over max":        func(s *storage.UploadSpec) { s.Size = s.MaxBytes + 1 },
		"no key":               func(s *storage.UploadSpec) { s.Key = "" },
		"expires before start": func(s *storage.UploadSpec) { s.NotBefore = s.Expires },
	} {
		spec := uploadSpec("uploads/k.png", 10)
		edit(&spec)
		if s, err := c.SignUpload(context.Background(), spec); err == nil {
			t.Errorf("%s: signed %+v", name, s)
		}
	}
}

// TestNewValidates: every bad setting is refused at start, with a line that
// names it; the endpoint must be the host minio-go will talk to.
func TestNewValidates(t *testing.T) {
	good := s3.Config{Endpoint: mustParse(t, "https://s3.us-west-2.amazonaws.com"), Bucket: testBucket,
		Region: testRegion, Credentials: testCredentials}
	if _, err := s3.New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, tt := range map[string]struct {
		edit func(*s3.Config)
		want string // in the error
	}{
		"no endpoint":        {func(c *s3.Config) { c.Endpoint = nil }, "endpoint"},
		"ftp endpoint":       {func(c *s3.Config) { c.Endpoint = mustParse(t, "ftp://s3.us-west-2.amazonaws.com") }, "scheme"},
		"endpoint with path": {func(c *s3.Config) { c.Endpoint = mustParse(t, "https://s3.us-west-2.amazonaws.com/b") }, "path"},
		"endpoint with user": {func(c *s3.Config) { c.Endpoint = mustParse(t, "https://k:s@s3.us-west-2.amazonaws.com") }, "user"},
		"no region":          {func(c *s3.Config) { c.Region = "" }, "region"},
		"bad bucket":         {func(c *s3.Config) { c.Bucket = "Not_A_Bucket" }, "bucket"},
		"no bucket":          {func(c *s3.Config) { c.Bucket = "" }, "bucket"},
		"no secret":          {func(c *s3.Config) { c.Credentials.SecretKey = "" }, "secret"},
		"quote in token":     {func(c *s3.Config) { c.Credentials.SessionToken = `a"b` }, "token"},
		"IP, virtual host":   {func(c *s3.Config) { c.Endpoint = mustParse(t, "http://127.0.0.1:9000") }, "path-style"},
		"relative CDN":       {func(c *s3.Config) { c.PublicBaseURL = mustParse(t, "/cdn") }, "public base URL"},
		// minio-go sends AWS requests to s3.<region>.amazonaws.com: the
		// global endpoint with another region would sign URLs for one host
		// and call another.
		"AWS global endpoint": {func(c *s3.Config) { c.Endpoint = mustParse(t, "https://s3.amazonaws.com") }, "s3.us-west-2.amazonaws.com"},
		"AWS other region":    {func(c *s3.Config) { c.Endpoint = mustParse(t, "https://s3.eu-west-1.amazonaws.com") }, "configure that endpoint"},
	} {
		cfg := good
		tt.edit(&cfg)
		if _, err := s3.New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v; want an error about %q", name, err, tt.want)
		} else if strings.Contains(err.Error(), testCredentials.SecretKey) {
			t.Errorf("%s: the error names the secret: %v", name, err)
		}
	}
}

// TestURLs: where objects and forms are addressed, for each style, with
// default ports dropped as the Host a client sends drops them.
func TestURLs(t *testing.T) {
	for _, tt := range []struct {
		endpoint, cdn string
		pathStyle     bool
		region        string
		wantPost      string
		wantObject    string
	}{
		{"https://s3.us-west-2.amazonaws.com", "", false, testRegion,
			"https://" + testBucket + ".s3.us-west-2.amazonaws.com/", "https://" + testBucket + ".s3.us-west-2.amazonaws.com/avatars/u1/a%20b"},
		{"https://s3.us-west-2.amazonaws.com:443", "", true, testRegion,
			"https://s3.us-west-2.amazonaws.com/" + testBucket + "/", "https://s3.us-west-2.amazonaws.com/" + testBucket + "/avatars/u1/a%20b"},
		{"https://acct.r2.cloudflarestorage.com", "https://img.example.com/root/", false, "auto",
			"https://" + testBucket + ".acct.r2.cloudflarestorage.com/", "https://img.example.com/root/avatars/u1/a%20b"},
		{"http://127.0.0.1:80", "", true, "us-east-1",
			"http://127.0.0.1/" + testBucket + "/", "http://127.0.0.1/" + testBucket + "/avatars/u1/a%20b"},
	} {
		cfg := s3.Config{Endpoint: mustParse(t, tt.endpoint), Bucket: testBucket, Region: tt.region, PathStyle: tt.pathStyle,
			PostPolicy: true, Credentials: testCredentials}
		if tt.cdn != "" {
			cfg.PublicBaseURL = mustParse(t, tt.cdn)
		}
		c, err := s3.New(cfg)
		if err != nil {
			t.Fatalf("%s: %v", tt.endpoint, err)
		}
		s, err := c.SignUpload(context.Background(), uploadSpec("uploads/k.png", 10))
		if err != nil {
			t.Fatal(err)
		}
		put := mustParse(t, s.PutURL)
		put.RawQuery = ""
		if s.PostURL != tt.wantPost || !strings.HasPrefix(put.String(), tt.wantPost) {
			t.Errorf("%s: POST %s, PUT %s; want both at %s", tt.endpoint, s.PostURL, put, tt.wantPost)
		}
		if got := c.ObjectURL("avatars/u1/a b"); got != tt.wantObject {
			t.Errorf("%s: ObjectURL = %s; want %s", tt.endpoint, got, tt.wantObject)
		}
	}
}

// TestSignUploadUsesPinnedKeys: a signature uses the keys pinned in its
// context, or else those in force.
func TestSignUploadUsesPinnedKeys(t *testing.T) {
	c := newSigner(t, testCredentials, true)
	pinned := c.Pin(context.Background())
	if err := c.SetCredentials(stsCredentials); err != nil {
		t.Fatal(err)
	}
	keyOf := func(ctx context.Context) (form, put string) {
		s, err := c.SignUpload(ctx, uploadSpec("uploads/k.png", 10))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(s.PostForm["x-amz-credential"], "/")[0], strings.Split(mustParse(t, s.PutURL).Query().Get("X-Amz-Credential"), "/")[0]
	}
	if f, p := keyOf(pinned); f != testCredentials.SecretID || p != testCredentials.SecretID {
		t.Errorf("pinned: form signed by %s, PUT by %s; want %s", f, p, testCredentials.SecretID)
	}
	if f, p := keyOf(context.Background()); f != stsCredentials.SecretID || p != stsCredentials.SecretID {
		t.Errorf("after the swap: form signed by %s, PUT by %s; want %s", f, p, stsCredentials.SecretID)
	}
	// A context pinned by another client pins nothing here.
	other := newSigner(t, testCredentials, true)
	if f, _ := keyOf(other.Pin(context.Background())); f != stsCredentials.SecretID {
		t.Errorf("pinned by another client: signed by %s; want this client's %s", f, stsCredentials.SecretID)
	}
	if got := c.Credentials(); got != stsCredentials {
		t.Errorf("Credentials() = %+v; want the swapped-in keys", got.MaskedID())
	}
	for _, bad := range []storage.Credentials{{}, {SecretID: "x"}, {SecretID: " x", SecretKey: "y"}, {SecretID: "x", SecretKey: "y", SessionToken: "a\\b"}} {
		if err := c.SetCredentials(bad); err == nil {
			t.Errorf("SetCredentials(%s) accepted bad credentials", bad.MaskedID())
		}
	}
	if got := c.Credentials(); got != stsCredentials {
		t.Errorf("a refused swap changed the keys to %s", got.MaskedID())
	}
}
