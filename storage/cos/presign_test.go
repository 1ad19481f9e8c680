package cos

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
	"github.com/wxavatar/wxavatar/storage"
)

// TestPresignPutMatchesSDK: presignPut writes, byte for byte, the URL
// cos-go-sdk-v5's GetPresignedURL writes for the same PUT.
func TestPresignPutMatchesSDK(t *testing.T) {
	nb := time.Unix(1764000000, 0)
	bases := []string{
		"https://examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
		"http://127.0.0.1:9000",
		"http://localhost:9000/",
	}
	keys := []string{
		"avatars/3ab2cdefgh/3ab2cdefghijklmnopqrstuvwx.png",
		"avatars/u 1/(me)+腾讯.png",
		"a/b~c_d-e.f/!*'();:@&=$,?#[]%.webp",
		"/leading/slash.png",
	}
	creds := []storage.Credentials{
		{SecretID: "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q", SecretKey: "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"},
		{SecretID: "AKIDtmp", SecretKey: "sk", SessionToken: "tok en/+=&;%"},
	}
	for _, b := range bases {
		base, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		client := cossdk.NewClient(&cossdk.BaseURL{BucketURL: base}, &http.Client{})
		for _, key := range keys {
			for _, cred := range creds {
				for _, ct := range []string{"image/png", "image/jpeg; charset=x y"} {
					for _, size := range []int64{1, 34567} {
						spec := storage.UploadSpec{Key: key, ContentType: ct, MaxBytes: 34567, Size: size, NotBefore: nb, Expires: nb.Add(10*time.Minute + 7*time.Second)}
						h := http.Header{}
						h.Set("Content-Type", ct)
						h.Set("Content-Length", strconv.FormatInt(size, 10))
						h.Set("x-cos-acl", "private")
						h.Set("x-cos-storage-class", "STANDARD")
						opt := &cossdk.PresignedURLOptions{Header: &h, AuthTime: &cossdk.AuthTime{
							SignStartTime: spec.NotBefore, SignEndTime: spec.Expires,
							KeyStartTime: spec.NotBefore, KeyEndTime: spec.Expires,
						}}
						if cred.SessionToken != "" {
							q := url.Values{}
							q.Set("x-cos-security-token", cred.SessionToken)
							opt.Query = &q
						}
						want, err := client.Object.GetPresignedURL(context.Background(), http.MethodPut, key,
							cred.SecretID, cred.SecretKey, spec.Expires.Sub(spec.NotBefore), opt)
						if err != nil {
							t.Fatal(err)
						}
						got, headers := presignPut(cred, base, spec)
						if got != want.String() {
							t.Errorf("base %s, key %q, token %t, type %q, size %d:\n got %s\nwant %s", b, key, cred.SessionToken != "", ct, size, got, want)
						}
						// The headers handed to the client are the ones the SDK signed.
						if len(headers) != len(h) {
							t.Errorf("headers to send %v; the SDK signed %v", headers, h)
						}
						for k, v := range headers {
							if h.Get(k) != v {
								t.Errorf("header to send %s: %q; the SDK signed %q", k, v, h.Get(k))
							}
						}
					}
				}
			}
		}
	}
}

func BenchmarkSignUpload(b *testing.B) {
	base, _ := url.Parse("https://examplebucket-1250000000.cos.ap-beijing.myqcloud.com")
	c, err := NewClient(Config{Bucket: "examplebucket-1250000000", BucketURL: base,
		Credentials: storage.Credentials{SecretID: "AKIDbench", SecretKey: "bench-secret-key"}})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	spec := storage.UploadSpec{Key: "avatars/3ab2cdefgh/3ab2cdefghijklmnopqrstuvwx.png", ContentType: "image/png",
		MaxBytes: 5 << 20, Size: 34567, NotBefore: now, Expires: now.Add(10 * time.Minute)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SignUpload(context.Background(), spec); err != nil {
			b.Fatal(err)
		}
	}
}
