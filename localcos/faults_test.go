package localcos

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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

// TestFaults: each fault in force shows on a plain request (package
// storage's tests check what its client makes of them), and the server
// answers normally once they clear.
func TestFaults(t *testing.T) {
	local, err := New(Config{Dir: t.TempDir(), Bucket: testBucketName,
		Credentials: func() []Key { return []Key{testCredentials} }})
	if err != nil {
		t.Fatal(err)
	}
	faults := NewFaults(local)
	srv := httptest.NewServer(faults)
	defer srv.Close()
	get := func(timeout time.Duration) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/missing", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	faults.Set(FaultConfig{ErrorRate: 1})
	if resp, err := get(time.Second); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("error=1: %v %v; want 503", resp, err)
	}
	faults.Set(FaultConfig{DropRate: 1})
	if resp, err := get(time.Second); err == nil {
		t.Errorf("drop=1: status %d; want the connection closed without an answer", resp.StatusCode)
	}
	faults.Set(FaultConfig{Latency: 2 * time.Second})
	start := time.Now()
	if _, err := get(200 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("latency=2s with a 200ms deadline: %v; want the deadline exceeded", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("latency=2s with a 200ms deadline took %s", elapsed)
	}
	faults.Set(FaultConfig{})
	if resp, err := get(time.Second); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("after the faults cleared: %v %v; want 404", resp, err)
	}
}
