package s3

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
)

// TestPresignPutRealignsWithMinioClock: when minio-go's reading of the clock
// falls in another second than ours, the URL is signed again, so that its
// X-Amz-Date + X-Amz-Expires is still spec.Expires; a clock that never
// agrees is an error, never a URL that ends at another time.
func TestPresignPutRealignsWithMinioClock(t *testing.T) {
	endpoint, _ := url.Parse("http://127.0.0.1:9000")
	c, err := New(Config{Endpoint: endpoint, Bucket: "b-test", Region: "us-east-1", PathStyle: true,
		Credentials: storage.Credentials{SecretID: "AKIDTEST", SecretKey: "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	spec := storage.UploadSpec{Key: "uploads/k.png", ContentType: "image/png", MaxBytes: 10, Size: 10,
		NotBefore: time.Now().Add(-time.Minute), Expires: time.Now().Add(10 * time.Minute).Truncate(time.Second)}

	calls := 0
	c.now = func() time.Time {
		calls++
		if calls == 1 {
			return time.Now().Add(-2 * time.Second) // our reading lags minio-go's by two seconds
		}
		return time.Now()
	}
	u, _, err := c.presignPut(context.Background(), c.session(context.Background()), spec)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("signed %d times; want 2 (the first one's date disagreed)", calls)
	}
	q, _ := url.Parse(u)
	date, err := time.Parse(amzDateLayout, q.Query().Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := strconv.Atoi(q.Query().Get("X-Amz-Expires"))
	if end := date.Add(time.Duration(secs) * time.Second); !end.Equal(spec.Expires) {
		t.Errorf("URL ends at %s; want %s", end, spec.Expires)
	}

	c.now = func() time.Time { return time.Now().Add(-2 * time.Second) }
	if u, _, err := c.presignPut(context.Background(), c.session(context.Background()), spec); err == nil {
		t.Errorf("with a clock that never agrees: %s; want an error", u)
	}
}
