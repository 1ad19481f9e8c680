package cos_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
)

// TestClientUnderFaults: every kind of fault surfaces as storage.ErrUnavailable
// within the client's timeout, and the client works again once it clears.
func TestClientUnderFaults(t *testing.T) {
	local, err := localcos.New(localcos.Config{Dir: t.TempDir(), Bucket: testBucketName,
		Credentials: func() []localcos.Key { return localKeys([]storage.Credentials{testCredentials}) }})
	if err != nil {
		t.Fatal(err)
	}
	faults := localcos.NewFaults(local)
	srv := httptest.NewServer(faults)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c, err := cos.NewClient(cos.Config{Bucket: testBucketName, BucketURL: u, Credentials: testCredentials, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, cfg := range map[string]localcos.FaultConfig{
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
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: Peek = %v; want storage.ErrUnavailable", name, err)
		}
	}
	faults.Set(localcos.FaultConfig{})
	if _, _, err := c.Peek(ctx, "k", 8); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after the faults cleared: %v; want storage.ErrNotFound", err)
	}
	resp, err := http.Get(srv.URL + "/missing")
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("plain GET after faults: %v %v", resp, err)
	}
}

// TestClientUnreadable: a GET that COS answers 400 InvalidRequest (an object
// stored with a customer-provided key, SSE-C, which a plain GET cannot read)
// is ErrUnreadable for Peek, and any other call's 400 stays ErrUnavailable.
func TestClientUnreadable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code><Message>The object was stored using a form of Server Side Encryption.</Message></Error>`))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c, err := cos.NewClient(cos.Config{Bucket: testBucketName, BucketURL: u, Credentials: testCredentials, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := c.Peek(ctx, "uploads/u/k.png", 8); !errors.Is(err, storage.ErrUnreadable) {
		t.Errorf("Peek on 400 InvalidRequest: %v; want ErrUnreadable", err)
	}
	if err := c.Delete(ctx, "uploads/u/k.png"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Delete on 400 InvalidRequest: %v; want ErrUnavailable", err)
	}
}
