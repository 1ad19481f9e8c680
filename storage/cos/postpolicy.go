package cos

import (
	"encoding/base64"
	"strconv"

	"github.com/wxavatar/wxavatar/internal/jsonx"
	"github.com/wxavatar/wxavatar/storage"
)

// The SDK signs requests and presigned URLs but has no helper for the POST
// Object form policy, so this file writes that signer from Tencent's "POST
// Object" documentation (checked against vector P1 of testdata/cos-vectors.md).

// policyTimeLayout is the expiration layout COS documents (millisecond
// precision, always UTC).
const policyTimeLayout = "2006-01-02T15:04:05.000Z"

// postSuccessStatus is what a POST upload answers on success.
const postSuccessStatus = storage.PostSuccessStatus

// What every upload signature pins besides the key, the type and the size,
// in the POST policy (form fields acl and x-cos-storage-class, COS's names
// in a form) and as signed headers of the presigned PUT (x-cos-acl,
// x-cos-storage-class):
//
//   - the ACL, private: the staging object holds bytes nobody has checked
//     yet, so nobody but the service (signed reads) may fetch them from the
//     bucket, whatever the bucket's own ACL; confirm reads them, decodes
//     them and writes its own re-encoding to the avatar's keys with a PUT
//     that names no ACL, so the avatar has the bucket's default, and the
//     bucket policy on avatars/* makes it public (deploy/README.md, "Bucket
//     setup");
//   - the storage class, STANDARD: a client could otherwise store its upload
//     as ARCHIVE, which COS will not serve (InvalidObjectState) until
//     restored, or as an infrequent-access class billed for a minimum
//     duration and per read.
//
// Cache-Control, Content-Disposition, Content-Encoding, Expires and
// x-cos-meta-* are not pinned: they only change how the staging object is
// served, and it is private and never served as an avatar (the avatar is a
// new object, with only the metadata the service's Put gives it). Nor is
// success_action_redirect: a COS policy can only require a field, never its
// absence, so pinning it would mean sending an empty redirect, whose
// handling COS does not document; a form redirected to "" would fail every
// upload. Whether COS refuses a form field no condition names is not
// documented either; the local object server (package localcos) refuses it,
// as S3 does.
const (
	stagingACL          = "private"
	stagingStorageClass = StandardClass
)

// signPostForm returns the POST Object form fields for spec: a policy that
// pins every field the client sends, and its signature.
func signPostForm(cred storage.Credentials, bucket string, spec storage.UploadSpec) (map[string]string, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	kt := keyTime(spec.NotBefore, spec.Expires)
	policy := policyJSON(cred, bucket, spec, kt)
	form := map[string]string{
		"key":                   spec.Key,
		"policy":                base64.StdEncoding.EncodeToString(policy),
		"q-sign-algorithm":      "sha1",
		"q-ak":                  cred.SecretID,
		"q-key-time":            kt,
		"q-signature":           policySignature(cred.SecretKey, kt, string(policy)),
		"Content-Type":          spec.ContentType,
		"success_action_status": postSuccessStatus,
		"acl":                   stagingACL,
		"x-cos-storage-class":   stagingStorageClass,
	}
	if cred.SessionToken != "" {
		form["x-cos-security-token"] = cred.SessionToken
	}
	return form, nil
}

// policyJSON is the POST policy: its expiration, and conditions that pin
// every field the form sends. Written without reflection, since every
// signature makes one; TestPolicyJSON compares it with encoding/json's
// rendering of the same document. json.Marshal of that document took 6 µs
// and 44 allocations more a signature (BenchmarkSignUpload, 21 µs against
// 15); with the signature's answer (handler/uploads.go) also written by
// encoding/json, the service's CPU per signature was 16% higher.
func policyJSON(cred storage.Credentials, bucket string, spec storage.UploadSpec, kt string) []byte {
	b := make([]byte, 0, 384+len(spec.Key)+len(cred.SessionToken))
	b = append(b, `{"expiration":`...)
	b = jsonx.AppendString(b, spec.Expires.UTC().Format(policyTimeLayout))
	b = append(b, `,"conditions":[{"bucket":`...)
	b = jsonx.AppendString(b, bucket)
	b = append(b, `},["eq","$key",`...)
	b = jsonx.AppendString(b, spec.Key)
	b = append(b, `],["eq","$Content-Type",`...)
	b = jsonx.AppendString(b, spec.ContentType)
	b = append(b, `],["content-length-range",1,`...)
	b = strconv.AppendInt(b, spec.MaxBytes, 10)
	b = append(b, `],{"success_action_status":"`+postSuccessStatus+`"},{"acl":"`+stagingACL+
		`"},{"x-cos-storage-class":"`+stagingStorageClass+`"},{"q-sign-algorithm":"sha1"},{"q-ak":`...)
	b = jsonx.AppendString(b, cred.SecretID)
	b = append(b, `},{"q-sign-time":`...)
	b = jsonx.AppendString(b, kt)
	b = append(b, '}')
	if cred.SessionToken != "" {
		b = append(b, `,{"x-cos-security-token":`...)
		b = jsonx.AppendString(b, cred.SessionToken)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// policySignature is hex(HMAC-SHA1(SignKey, hex(SHA1(policy JSON as sent)))).
func policySignature(secretKey, keyTime, policyJSON string) string {
	return hmacSHA1Hex(signKey(secretKey, keyTime), sha1Hex(policyJSON))
}
