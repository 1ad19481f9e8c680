package oss

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// The OSS V4 signature ("OSS4-HMAC-SHA256") shared by the POST policy
// signer: the SDK signs every request the service sends and the presigned
// PUT (presign.go), but has nothing for PostObject, so the key derivation is
// written here from Aliyun's "在Header中包含V4签名" / "POST V4签名" pages
// (testdata/oss-vectors.md). The local object server (package localcos)
// verifies with its own reading of the protocol, sharing none of this code.

const (
	// signatureVersion names the algorithm in every V4 signature: the form
	// field x-oss-signature-version, the presigned URL's parameter of the
	// same name, the Authorization header's first word.
	signatureVersion = "OSS4-HMAC-SHA256"
	// product is the service in the credential scope, always "oss".
	product = "oss"
	// scopeTerminator ends every credential scope.
	scopeTerminator = "aliyun_v4_request"

	// dateTimeLayout is x-oss-date's ISO 8601 basic format, always UTC;
	// dateLayout is the scope's date, which must be x-oss-date's day.
	dateTimeLayout = "20060102T150405Z"
	dateLayout     = "20060102"
)

// credential is the x-oss-credential value:
// <AccessKeyId>/<date>/<region>/oss/aliyun_v4_request.
func credential(accessKeyID string, at time.Time, region string) string {
	return accessKeyID + "/" + at.UTC().Format(dateLayout) + "/" + region + "/" + product + "/" + scopeTerminator
}

// signingKey is SigningKey = HMAC-SHA256 chained over "aliyun_v4" +
// secret, the date (YYYYMMDD), the region, "oss" and "aliyun_v4_request".
func signingKey(secret string, at time.Time, region string) []byte {
	k := hmacSHA256([]byte("aliyun_v4"+secret), at.UTC().Format(dateLayout))
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, product)
	return hmacSHA256(k, scopeTerminator)
}

// signature is hex(HMAC-SHA256(SigningKey, StringToSign)): for a POST form
// StringToSign is the policy field as sent (its base64), for a request it
// is the "OSS4-HMAC-SHA256\n<date-time>\n<scope>\n<hex SHA-256 of the
// canonical request>" text.
func signature(key []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
