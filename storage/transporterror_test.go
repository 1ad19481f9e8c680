package storage_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
	"github.com/wxavatar/wxavatar/storage/oss"
	"github.com/wxavatar/wxavatar/storage/s3"
)

// client is what every provider's client offers that this test calls.
type client interface {
	Peek(ctx context.Context, key string, n int) (storage.ObjectInfo, []byte, error)
	Put(ctx context.Context, key string, data []byte, spec storage.PutSpec) error
	Delete(ctx context.Context, key string) error
	Ping(ctx context.Context) error
}

// TestTransportErrorsNameNoSecret: when nothing answers, each provider's
// errors (which wrap the transport's, quoting the request URL) name no
// secret, token, credential or signature, since the service logs them.
func TestTransportErrorsNameNoSecret(t *testing.T) {
	dead := httptest.NewServer(nil)
	endpoint, _ := url.Parse(dead.URL)
	dead.Close()
	cred := storage.Credentials{SecretID: "KEYIDsecretid0001", SecretKey: "the-secret-key-0001", SessionToken: "the+session/token=="}
	clients := map[string]func() (client, error){
		"cos": func() (client, error) {
			return cos.NewClient(cos.Config{Bucket: "b-1250000000", BucketURL: endpoint, Credentials: cred, Timeout: time.Second})
		},
		"oss": func() (client, error) {
			return oss.New(oss.Config{Endpoint: endpoint, Bucket: "bucket", Region: "cn-hangzhou", PathStyle: true, Credentials: cred, Timeout: time.Second})
		},
		"s3": func() (client, error) {
			return s3.New(s3.Config{Endpoint: endpoint, Bucket: "bucket", Region: "us-east-1", PathStyle: true, Credentials: cred, Timeout: time.Second})
		},
	}
	for name, build := range clients {
		c, err := build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx := context.Background()
		_, _, peekErr := c.Peek(ctx, "uploads/u/k.png", 8)
		for call, err := range map[string]error{
			"Peek":   peekErr,
			"Put":    c.Put(ctx, "avatars/u/k/avatar", []byte("x"), storage.PutSpec{ContentType: "image/jpeg"}),
			"Delete": c.Delete(ctx, "uploads/u/k.png"),
			"Ping":   c.Ping(ctx),
		} {
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("%s %s with nothing listening: %v; want ErrUnavailable", name, call, err)
				continue
			}
			text := strings.ToLower(err.Error())
			for _, secret := range []string{cred.SecretKey, cred.SessionToken, url.QueryEscape(cred.SessionToken), "signature", "credential", "security-token"} {
				if strings.Contains(text, strings.ToLower(secret)) {
					t.Errorf("%s %s: the error names %q: %v", name, call, secret, err)
				}
			}
		}
	}
}
