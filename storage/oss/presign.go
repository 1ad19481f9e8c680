package oss

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/wxavatar/wxavatar/storage"
)

// presignPut is the presigned PUT URL for spec (spec.Size must be set),
// written by the SDK's Presign with a V4 query signature
// ("(推荐)在URL中包含V4签名"): the canonical request covers the method, the
// bucket and key, every query parameter (x-oss-security-token with STS
// credentials among them), the default-signed headers present (V4 signs
// every x-oss-* header, Content-Type and Content-MD5 a request carries, so
// the holder can add no x-oss-* header of its own: x-oss-object-acl private
// and x-oss-storage-class Standard are pinned, and a forged x-oss-meta-*,
// x-oss-forbid-overwrite or x-oss-server-side-encryption breaks the
// signature) and the additional headers the URL names in
// x-oss-additional-headers, here content-length and host.
//
// Content-Length is not signed by default in V4; the SDK signs it only as an
// additional header, and only if the request it signs carries it in its
// header map (signer/v4.go, getCommonAdditionalHeaders), which
// PutObjectRequest.ContentLength puts there. Host is never in a Go request's
// header map, so it is given as a header of the request to sign. Aliyun's
// worked example of a V4 header signature signs content-length the same way
// (testdata/oss-vectors.md, H1).
//
// The SDK takes the signing time from its own clock: x-oss-date is the
// moment of signing (OSS allows 15 minutes for a clock that runs ahead), and
// x-oss-expires is spec.Expires less that second, so the window ends at
// spec.Expires to the second. Both facts are checked on the URL the SDK
// writes: if it ever signs without the Content-Length or ends elsewhere,
// there is no PUT, and SignUpload fails rather than hand out a URL that
// takes any size.
//
// It returns the URL and the headers the client must send with it: every
// header the URL signs but Host, which the URL names.
func (c *Client) presignPut(ctx context.Context, k *storage.Keyed[*osssdk.Client], spec storage.UploadSpec) (string, map[string]string, error) {
	if spec.Size < 1 {
		return "", nil, errors.New("storage: presigned PUT without a declared size")
	}
	size := strconv.FormatInt(spec.Size, 10)
	res, err := k.Client.Presign(ctx, &osssdk.PutObjectRequest{
		Bucket:        &c.cfg.Bucket,
		Key:           &spec.Key,
		ContentType:   &spec.ContentType,
		ContentLength: &spec.Size,
		Acl:           osssdk.ObjectACLType(stagingACL),
		StorageClass:  osssdk.StorageClassType(stagingStorageClass),
		RequestCommon: osssdk.RequestCommon{Headers: map[string]string{"Host": c.host}},
	}, osssdk.PresignExpiration(spec.Expires))
	if err != nil {
		return "", nil, fmt.Errorf("storage: presign put: %w", err)
	}
	u, err := url.Parse(res.URL)
	if err != nil {
		return "", nil, fmt.Errorf("storage: presign put: %w", err)
	}
	if err := checkPresigned(u, spec); err != nil {
		return "", nil, err
	}
	want := map[string]string{
		"content-type":        spec.ContentType,
		"content-length":      size,
		"host":                c.host,
		"x-oss-object-acl":    stagingACL,
		"x-oss-storage-class": stagingStorageClass,
	}
	headers := make(map[string]string, len(want)-1)
	for name, value := range res.SignedHeaders {
		low := strings.ToLower(name)
		if want[low] != value {
			return "", nil, fmt.Errorf("storage: presign put: the SDK signed %s %q; want %q", low, value, want[low])
		}
		switch {
		case low == "host":
		case strings.HasPrefix(low, "x-oss-"):
			headers[low] = value // as OSS's documents spell them, like COS's x-cos-acl
		default:
			headers[http.CanonicalHeaderKey(low)] = value
		}
	}
	if len(res.SignedHeaders) != len(want) {
		return "", nil, fmt.Errorf("storage: presign put: the SDK signed %d headers; want %d", len(res.SignedHeaders), len(want))
	}
	return u.String(), headers, nil
}

// checkPresigned checks what the SDK wrote against what SignUpload
// promises: a V4 query signature that names content-length and host as
// additional headers and ends at spec.Expires.
func checkPresigned(u *url.URL, spec storage.UploadSpec) error {
	q := u.Query()
	if got := q.Get("x-oss-signature-version"); got != signatureVersion {
		return fmt.Errorf("storage: presign put: signature version %q; want %s", got, signatureVersion)
	}
	if got := strings.Split(q.Get("x-oss-additional-headers"), ";"); !slices.Equal(got, presignAdditionalHeaders) {
		return fmt.Errorf("storage: presign put: the URL signs additional headers %q; want %q", got, presignAdditionalHeaders)
	}
	signedAt, err := time.Parse(dateTimeLayout, q.Get("x-oss-date"))
	if err != nil {
		return fmt.Errorf("storage: presign put: x-oss-date: %w", err)
	}
	expires, err := strconv.ParseInt(q.Get("x-oss-expires"), 10, 64)
	if err != nil || expires < 1 {
		return fmt.Errorf("storage: presign put: x-oss-expires %q; want at least 1 (the upload expires %s)", q.Get("x-oss-expires"), spec.Expires.UTC().Format(time.RFC3339))
	}
	if end := signedAt.Unix() + expires; end != spec.Expires.Unix() {
		return fmt.Errorf("storage: presign put: the URL ends at %d; want %d", end, spec.Expires.Unix())
	}
	return nil
}
