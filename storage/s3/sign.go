package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/wxavatar/wxavatar/storage"
)

// Both signatures are minio-go's (PresignedPostPolicy, PresignHeader), which
// implement AWS Signature Version 4 as minio's pkg/signer tests check it
// against AWS's published values; what this file adds is what they are made
// to pin, and the window they are valid in.
//
// What the client cannot choose:
//
//   - the key, the Content-Type and the size: the form's policy names the
//     key and the type exactly and bounds the size with content-length-range
//     1..MaxBytes; the PUT URL signs the path, Content-Type and the exact
//     Content-Length the client declared;
//   - anything else the object would be stored with. AWS refuses a form
//     field that no policy condition names ("Each form field that you
//     specify in a form (except x-amz-signature, file, policy, and field
//     names that have an x-ignore- prefix) must appear in the list of
//     conditions", POST Policy, sigv4-HTTPPOSTConstructPolicy), so a form
//     with acl, x-amz-storage-class, x-amz-meta-*, Cache-Control or
//     success_action_redirect added is refused; and it refuses a presigned
//     request carrying an x-amz-* header the signature does not cover (403
//     AccessDenied "There were headers present in the request which were
//     not signed", HeadersNotSigned: x-amz-acl), so the PUT cannot add an
//     ACL, a class, tags or metadata. The PUT signs x-amz-storage-class:
//     STANDARD; the form names no class, and an upload that names none is
//     stored in STANDARD on AWS and MinIO (R2 takes no form). Neither names
//     an ACL: staging objects under uploads/ are private because the bucket
//     is, and only the bucket policy's avatars/* is public. (Headers other
//     than x-amz-* that the PUT does not sign, such as Cache-Control, S3
//     stores as given: they only change how the private staging object would
//     be served, and it never is: confirm writes the avatar anew with Put.)

// maxPresignSeconds is SigV4's longest presigned URL: X-Amz-Expires "minimum
// value you can set is 1, and the maximum is 604800 (seven days)"
// (sigv4-query-string-auth).
const maxPresignSeconds = 7 * 24 * 60 * 60

// amzDateLayout is X-Amz-Date's layout: ISO 8601 basic format, UTC.
const amzDateLayout = "20060102T150405Z"

// SignUpload signs, for spec, a POST form (when the store takes them) and,
// when spec declares a size, a presigned PUT URL. Both stop working at
// spec.Expires: the form's policy expiration is spec.Expires itself
// (millisecond precision), and the PUT URL's X-Amz-Date plus X-Amz-Expires
// is spec.Expires to the second (presignPut). S3 has no "not before": a
// signature is valid from its X-Amz-Date, the moment it is made, so
// spec.NotBefore only has to be in the past. PutHeaders are the headers the
// PUT must carry, exactly. Without a declared size there is no PUT URL: one
// that signs no Content-Length lets its holder store up to S3's 5 GB limit;
// on a store without POST uploads that leaves nothing to sign
// (storage.ErrSizeRequired).
func (c *Client) SignUpload(ctx context.Context, spec storage.UploadSpec) (storage.SignedUpload, error) {
	if err := spec.Validate(); err != nil {
		return storage.SignedUpload{}, err
	}
	if !policySafe(spec.Key) || !policySafe(spec.ContentType) {
		return storage.SignedUpload{}, errors.New("upload spec: key or content type holds a quote, backslash or control character")
	}
	if spec.Expires.Sub(c.now()) < time.Second {
		return storage.SignedUpload{}, errors.New("upload spec: expires within a second")
	}
	if !c.cfg.PostPolicy && spec.Size == 0 {
		return storage.SignedUpload{}, storage.ErrSizeRequired
	}
	s := c.session(ctx)
	var signed storage.SignedUpload
	if c.cfg.PostPolicy {
		var err error
		if signed.PostURL, signed.PostForm, err = c.postForm(ctx, s, spec); err != nil {
			return storage.SignedUpload{}, err
		}
	}
	if spec.Size > 0 {
		var err error
		if signed.PutURL, signed.PutHeaders, err = c.presignPut(ctx, s, spec); err != nil {
			return storage.SignedUpload{}, err
		}
	}
	return signed, nil
}

// postForm is the POST policy form for spec, through minio-go's PostPolicy.
// The policy's conditions, in order: bucket, key and Content-Type (eq),
// success_action_status (eq "204"), then the ones PresignedPostPolicy adds
// (x-amz-date, x-amz-algorithm, x-amz-credential, x-amz-security-token with
// temporary keys), then content-length-range 1..MaxBytes. The form is
// exactly one field per condition, plus policy and x-amz-signature: what
// the client sends as given, with its file last as "file". minio-go's
// SetCondition pins nothing more (it takes only X-Amz-Credential,
// X-Amz-Date and X-Amz-Algorithm), and nothing more is needed: every field
// left out is refused (see above).
func (c *Client) postForm(ctx context.Context, s *session, spec storage.UploadSpec) (string, map[string]string, error) {
	p := minio.NewPostPolicy()
	if err := errors.Join(
		p.SetBucket(c.cfg.Bucket),
		p.SetKey(spec.Key),
		p.SetContentType(spec.ContentType),
		p.SetSuccessStatusAction(storage.PostSuccessStatus),
		p.SetContentLengthRange(1, spec.MaxBytes),
		p.SetExpires(spec.Expires),
	); err != nil {
		return "", nil, fmt.Errorf("storage: sign POST form: %w", err)
	}
	// No network call: the client's region is set, so PresignedPostPolicy
	// does not look the bucket's location up.
	u, form, err := s.Client.PresignedPostPolicy(ctx, p)
	if err != nil {
		return "", nil, fmt.Errorf("storage: sign POST form: %w", err)
	}
	return u.String(), form, nil
}

// presignPut is the presigned PUT URL for spec, through minio-go's
// PresignHeader, signing host, Content-Type, Content-Length (spec.Size) and
// x-amz-storage-class (STANDARD), with the headers the client must send.
//
// Content-Length is signed because it is given as a header: minio-go copies
// the extra headers into the request's Header map and signs every header
// there but Accept-Encoding, Authorization and User-Agent (pkg/signer,
// PreSignV4 and getSignedHeaders; req.ContentLength, which net/http would
// send instead, plays no part in a presign). TestPresignedPutSignsHeaders
// checks X-Amz-SignedHeaders, and recomputes the signature with
// content-length in the canonical request.
//
// The URL's validity ends at X-Amz-Date + X-Amz-Expires. minio-go takes
// X-Amz-Date from its own time.Now, so X-Amz-Expires is computed from our
// reading of the clock's second and the URL is signed again in the rare
// case minio-go's reading falls in the next second: then X-Amz-Date +
// X-Amz-Expires is spec.Expires truncated to the second, exactly.
func (c *Client) presignPut(ctx context.Context, s *session, spec storage.UploadSpec) (string, map[string]string, error) {
	size := strconv.FormatInt(spec.Size, 10)
	signed := http.Header{
		"Content-Type":        {spec.ContentType},
		"Content-Length":      {size},
		"X-Amz-Storage-Class": {StandardClass},
	}
	end := spec.Expires.Unix()
	for range 3 {
		now := c.now().UTC()
		secs := end - now.Unix()
		if secs < 1 || secs > maxPresignSeconds {
			return "", nil, fmt.Errorf("storage: sign PUT: %d s to expiry; a presigned URL lasts 1 s to 7 days", secs)
		}
		u, err := s.Client.PresignHeader(ctx, http.MethodPut, c.cfg.Bucket, spec.Key, time.Duration(secs)*time.Second, nil, signed)
		if err != nil {
			return "", nil, fmt.Errorf("storage: sign PUT: %w", err)
		}
		if u.Query().Get("X-Amz-Date") == now.Format(amzDateLayout) {
			return u.String(), map[string]string{
				"Content-Type":        spec.ContentType,
				"Content-Length":      size,
				"x-amz-storage-class": StandardClass,
			}, nil
		}
	}
	return "", nil, errors.New("storage: sign PUT: the clock's second kept changing under the signature")
}

// policySafe says s can go into minio-go's POST policy as it is: minio-go
// writes condition values between quotes without JSON-escaping them
// (post-policy.go, marshalJSON), so a quote or backslash would end the
// string early or escape the next character, and a control character is not
// valid JSON. The service's keys, types and tokens never hold one.
func policySafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b == '"' || b == '\\' || b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}
