package oss

import (
	"encoding/base64"
	"strconv"

	"github.com/wxavatar/wxavatar/internal/jsonx"
	"github.com/wxavatar/wxavatar/storage"
)

// The SDK signs requests and presigned URLs but has no helper for the
// PostObject form, so this file writes that signer from Aliyun's
// "PostObject" and "POST V4签名" (signature-version-4-recommend) pages,
// checked against testdata/oss-vectors.md:
//
//   - the form carries x-oss-signature-version (OSS4-HMAC-SHA256),
//     x-oss-credential (<AccessKeyId>/<date>/<region>/oss/aliyun_v4_request),
//     x-oss-date (ISO 8601 basic, the credential's day), x-oss-signature and
//     the policy, base64 of its UTF-8 JSON; the policy must hold the first
//     three as conditions with the same values;
//   - x-oss-signature = hex(HMAC-SHA256(SigningKey, the policy field as sent));
//   - STS credentials add x-oss-security-token to the form and the policy;
//   - conditions are {"field": "value"} or ["eq", "$field", "value"] (exact),
//     ["starts-with", …], ["in", …], ["not-in", …] and
//     ["content-length-range", min, max];
//   - the form goes to the bucket's root (POST / on the bucket's host), the
//     file field last.
//
// OSS checks x-oss-date against its clock with 15 minutes' allowance for
// clocks that run ahead, and a form is valid for at most 7 days from
// x-oss-date; its end is the policy's expiration.

// policyTimeLayout is the policy's expiration as Aliyun writes it (ISO 8601,
// millisecond precision, always UTC).
const policyTimeLayout = "2006-01-02T15:04:05.000Z"

// postSuccessStatus is what a POST upload answers on success.
const postSuccessStatus = storage.PostSuccessStatus

// What every upload signature pins besides the key, the type and the size,
// in the POST policy (form fields x-oss-object-acl and x-oss-storage-class)
// and as headers of the presigned PUT (the same names):
//
//   - the ACL, private: the staging object holds bytes nobody has checked
//     yet, so nobody but the service (signed reads) may fetch them, whatever
//     the bucket's ACL or its policy on uploads/; confirm writes its own
//     re-encoding to the avatar's keys with a PUT that names no ACL, so the
//     avatar has the bucket's (default), and the bucket policy on avatars/*
//     makes it public;
//   - the storage class, Standard: a client could otherwise store its upload
//     as Archive or ColdArchive, which OSS will not serve (InvalidObjectState)
//     until restored, or as IA, billed for a minimum duration and per read.
//
// The stored type: PostObject documents the order x-oss-content-type field >
// the file part's own Content-Type > the Content-Type field, so the file
// part's type, which the client (or its browser, or wx.uploadFile) chooses,
// would win over a pinned Content-Type field. x-oss-content-type is what
// pins the stored type; the Content-Type field is pinned too, to the same
// value, so that no field of the form is left free.
//
// The other form fields that set something of the object: Cache-Control,
// Content-Disposition, Content-Encoding, Expires and x-oss-meta-* are not
// pinned: they only change how the staging object is served, and it is
// private and never served as an avatar (the avatar is a new object, with
// only the metadata the service's Put gives it). Nor are
// x-oss-forbid-overwrite (the key is the upload's own) and the server-side
// encryption fields: an upload encrypted with a KMS key the service cannot
// use is one confirm cannot read, so it fails only its own uploader (and
// the service's RAM policy grants no kms:* to encrypt with), and a policy
// can only require a field, never its absence, so pinning them would mean
// choosing an encryption for every upload. Nor success_action_redirect or
// callback, which change where OSS answers or calls, not what it stores.
// x-oss-storage-class is pinned although the part of PostObject's form
// table read for this did not list it (the PutObject header of that name
// is documented): if OSS reads it, it can only be Standard; if not, the
// condition costs nothing. Whether OSS refuses a form field no condition
// names is not documented; the tests' fake OSS takes the worst case and
// applies it.
const (
	stagingACL          = "private"
	stagingStorageClass = "Standard" // OSS's spelling of storage.StandardClass
)

// Form field names of the V4 signature.
const (
	fieldSignatureVersion = "x-oss-signature-version"
	fieldCredential       = "x-oss-credential"
	fieldDate             = "x-oss-date"
	fieldSignature        = "x-oss-signature"
	fieldSecurityToken    = "x-oss-security-token"
)

// signPostForm returns the PostObject form fields for spec, everything the
// client sends besides the file: a policy that pins every field of them and
// its V4 signature, dated spec.NotBefore.
func signPostForm(cred storage.Credentials, bucket, region string, spec storage.UploadSpec) (map[string]string, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	date := spec.NotBefore.UTC().Format(dateTimeLayout)
	credentialScope := credential(cred.SecretID, spec.NotBefore, region)
	policy := base64.StdEncoding.EncodeToString(policyJSON(cred, bucket, spec, credentialScope, date))
	form := map[string]string{
		"key":                   spec.Key,
		"policy":                policy,
		fieldSignatureVersion:   signatureVersion,
		fieldCredential:         credentialScope,
		fieldDate:               date,
		fieldSignature:          signature(signingKey(cred.SecretKey, spec.NotBefore, region), policy),
		"Content-Type":          spec.ContentType,
		"x-oss-content-type":    spec.ContentType,
		"success_action_status": postSuccessStatus,
		"x-oss-object-acl":      stagingACL,
		"x-oss-storage-class":   stagingStorageClass,
	}
	if cred.SessionToken != "" {
		form[fieldSecurityToken] = cred.SessionToken
	}
	return form, nil
}

// policyJSON is the POST policy: its expiration, and conditions that pin
// every field the form sends. Written without reflection, like COS's, since
// every signature makes one; TestPolicyJSON compares it with encoding/json's
// rendering of the same document.
func policyJSON(cred storage.Credentials, bucket string, spec storage.UploadSpec, credentialScope, date string) []byte {
	b := make([]byte, 0, 640+2*len(spec.Key)+len(cred.SessionToken))
	b = append(b, `{"expiration":`...)
	b = jsonx.AppendString(b, spec.Expires.UTC().Format(policyTimeLayout))
	b = append(b, `,"conditions":[{"bucket":`...)
	b = jsonx.AppendString(b, bucket)
	b = append(b, `},["eq","$key",`...)
	b = jsonx.AppendString(b, spec.Key)
	b = append(b, `],["eq","$Content-Type",`...)
	b = jsonx.AppendString(b, spec.ContentType)
	b = append(b, `],["eq","$x-oss-content-type",`...)
	b = jsonx.AppendString(b, spec.ContentType)
	b = append(b, `],["content-length-range",1,`...)
	b = strconv.AppendInt(b, spec.MaxBytes, 10)
	b = append(b, `],["eq","$success_action_status","`+postSuccessStatus+
		`"],["eq","$x-oss-object-acl","`+stagingACL+
		`"],["eq","$x-oss-storage-class","`+stagingStorageClass+
		`"],{"`+fieldSignatureVersion+`":"`+signatureVersion+`"},{"`+fieldCredential+`":`...)
	b = jsonx.AppendString(b, credentialScope)
	b = append(b, `},{"`+fieldDate+`":`...)
	b = jsonx.AppendString(b, date)
	b = append(b, '}')
	if cred.SessionToken != "" {
		b = append(b, `,{"`+fieldSecurityToken+`":`...)
		b = jsonx.AppendString(b, cred.SessionToken)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
