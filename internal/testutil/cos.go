package testutil

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"testing"
)

// plainClient is net/http without COS signing; it reports redirects rather
// than following them.
var plainClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do sends req with a plain client, failing the test if it gets no answer.
func Do(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// MustRequest is http.NewRequest, failing the test on a bad argument.
func MustRequest(t testing.TB, method, target string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// COSErrorCode is the code of the COS error document resp carries.
func COSErrorCode(t testing.TB, resp *http.Response) string {
	t.Helper()
	code, _ := COSErrorDoc(t, resp)
	return code
}

// COSErrorDoc reads a COS error document from a plain HTTP response and
// closes its body, checking that it is one as COS writes it: XML with its
// declaration, the request id of the header, a message. An answer below
// 400, or to a HEAD, carries none: "", "".
func COSErrorDoc(t testing.TB, resp *http.Response) (code, message string) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode < 400 || resp.Request.Method == http.MethodHead {
		return "", ""
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/xml"; got != want {
		t.Errorf("error Content-Type: got %q; want %q", got, want)
	}
	if !bytes.HasPrefix(raw, []byte("<?xml version='1.0' encoding='utf-8' ?>")) {
		t.Errorf("error body: got %q; want the COS XML declaration first", raw)
	}
	var doc struct {
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	if id := resp.Header.Get("x-cos-request-id"); id == "" || id != doc.RequestID {
		t.Errorf("request id: got header %q, body %q; want equal and non-empty", id, doc.RequestID)
	}
	if doc.Message == "" {
		t.Errorf("error %s has an empty Message", doc.Code)
	}
	return doc.Code, doc.Message
}
