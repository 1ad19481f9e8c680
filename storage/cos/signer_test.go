package cos_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
)

// TestSignerOutputVerifies: what the signer makes for one upload, with
// temporary credentials and at fixed times, is accepted as it stands by the
// local object server, whose verifier is written apart from the signer: the
// POST form and the presigned PUT both store the object. (Package localcos
// fuzzes its verifier from a form and a URL of the same shape.)
func TestSignerOutputVerifies(t *testing.T) {
	start := time.Unix(1700000000, 0)
	now := start.Add(time.Minute)
	cred := storage.Credentials{SecretID: "AKIDfuzz", SecretKey: "fuzz-secret-key", SessionToken: "sts-token"}
	b := newTestBucket(t, localcos.Config{Now: func() time.Time { return now }}, cred)
	c := newClientFor(t, b, cred)
	spec := storage.UploadSpec{Key: "avatars/u1/up1.png", ContentType: "image/png", MaxBytes: 1024, Size: 3,
		NotBefore: start, Expires: start.Add(10 * time.Minute)}
	s, err := c.SignUpload(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("png")
	if got := uploadWithForm(t, s, data); got != http.StatusNoContent {
		t.Errorf("the signer's own form: status %d; want 204", got)
	}
	if got := uploadWithPut(t, s, data); got != http.StatusOK {
		t.Errorf("the signer's own presigned PUT: status %d; want 200", got)
	}
}
