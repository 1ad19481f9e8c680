package storage

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	good := map[string]FaultConfig{
		"":                               {},
		"latency=250ms":                  {Latency: 250 * time.Millisecond},
		"latency=1s,error=0.5,drop=0.25": {Latency: time.Second, ErrorRate: 0.5, DropRate: 0.25},
		" error=1 drop=0 ":               {ErrorRate: 1},
	}
	for in, want := range good {
		if got, err := ParseFaults(in); err != nil || got != want {
			t.Errorf("ParseFaults(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"latency=soon", "error=2", "drop=-0.1", "slow=1", "latency=2m"} {
		if _, err := ParseFaults(in); err == nil {
			t.Errorf("ParseFaults(%q) accepted bad input", in)
		}
	}
}

// TestClientUnderFaults: every kind of fault surfaces as ErrUnavailable
// within the client's timeout, and the client works again once it clears.
func TestClientUnderFaults(t *testing.T) {
	local, err := NewLocalServer(LocalServerConfig{Dir: t.TempDir(), Bucket: testBucketName,
		Credentials: func() []Credentials { return []Credentials{testCredentials} }})
	if err != nil {
		t.Fatal(err)
	}
	faults := NewFaults(local)
	srv := httptest.NewServer(faults)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c, err := NewClient(Config{Bucket: testBucketName, BucketURL: u, Credentials: testCredentials, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, cfg := range map[string]FaultConfig{
		"slow":    {Latency: 2 * time.Second},
		"5xx":     {ErrorRate: 1},
		"dropped": {DropRate: 1},
	} {
		faults.Set(cfg)
		start := time.Now()
		_, _, err := c.Peek(ctx, "k", 8)
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("%s: Peek took %s; want it bounded by the 300ms timeout", name, elapsed)
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: Peek = %v; want ErrUnavailable", name, err)
		}
	}
	faults.Set(FaultConfig{})
	if _, _, err := c.Peek(ctx, "k", 8); !errors.Is(err, ErrNotFound) {
		t.Errorf("after the faults cleared: %v; want ErrNotFound", err)
	}
	resp, err := http.Get(srv.URL + "/missing")
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("plain GET after faults: %v %v", resp, err)
	}
}
