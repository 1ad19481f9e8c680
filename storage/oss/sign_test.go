package oss

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/signer"
)

// Vector H1 of testdata/oss-vectors.md: Aliyun's worked example of a V4
// header signature.
const (
	h1Canonical = "PUT\n/examplebucket/exampleobject\n\ncontent-disposition:attachment\ncontent-length:3\n" +
		"content-md5:ICy5YqxZB1uWSwcVLSNLcA==\ncontent-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n" +
		"x-oss-date:20250411T064124Z\n\ncontent-disposition;content-length\nUNSIGNED-PAYLOAD"
	h1Digest        = "c46d96390bdbc2d739ac9363293ae9d710b14e48081fcb22cd8ad54b63136eca"
	h1StringToSign  = "OSS4-HMAC-SHA256\n20250411T064124Z\n20250411/cn-hangzhou/oss/aliyun_v4_request\n" + h1Digest
	h1PublishedKey  = "3543b7686e65eda71e5e5ca19d548d78423c37e8ddba4dc9d83f90228b457c76"
	h1PublishedSig  = "053edbf550ebd239b32a9cdfd93b0b2b3f2d223083aa61f75e9ac16856d61f23"
	h1Secret        = "yourAccessKeySecret"
	h1DerivedKey    = "8a01ff4efcc65ca2cbc75375045c61ab5f3fa8b9a2d84f0add27ef16a25feb3c"
	h1DerivedSig    = "d3694c2dfc5371ee6acd35e88c4871ac95a7ba01d3a2f476768fe61218590097"
	h1Region        = "cn-hangzhou"
	h1DateTimeValue = "20250411T064124Z"
)

var h1Time = time.Date(2025, 4, 11, 6, 41, 24, 0, time.UTC)

func TestSignatureVectorH1(t *testing.T) {
	if got := len(h1Canonical); got != 261 {
		t.Fatalf("canonical request is %d bytes; want 261 (vector text altered)", got)
	}
	sum := sha256.Sum256([]byte(h1Canonical))
	if got := hex.EncodeToString(sum[:]); got != h1Digest {
		t.Fatalf("SHA-256 of the canonical request = %s; want %s", got, h1Digest)
	}
	// The published SigningKey signs the published StringToSign into the
	// published Signature: the last step, the one the POST form uses with
	// the policy as StringToSign.
	key, _ := hex.DecodeString(h1PublishedKey)
	if got := signature(key, h1StringToSign); got != h1PublishedSig {
		t.Errorf("signature with the published key = %s; want %s", got, h1PublishedSig)
	}
	if got := credential("LTAI****************", h1Time, h1Region); got != "LTAI****************/20250411/cn-hangzhou/oss/aliyun_v4_request" {
		t.Errorf("credential = %s", got)
	}
	if got := h1Time.Format(dateTimeLayout); got != h1DateTimeValue {
		t.Errorf("x-oss-date = %s; want %s", got, h1DateTimeValue)
	}
	// The published key is not derived from the example's placeholder
	// secret; what that secret derives is pinned below and checked against
	// the SDK in TestSigningKeyMatchesSDK.
	if got := hex.EncodeToString(signingKey(h1Secret, h1Time, h1Region)); got != h1DerivedKey {
		t.Errorf("SigningKey from %q = %s; want %s", h1Secret, got, h1DerivedKey)
	}
	if got := signature(signingKey(h1Secret, h1Time, h1Region), h1StringToSign); got != h1DerivedSig {
		t.Errorf("signature from %q = %s; want %s", h1Secret, got, h1DerivedSig)
	}
}

// TestSigningKeyMatchesSDK: Aliyun's SDK signs H1's request with the
// example's secret into the signature signingKey gives, so the POST form's
// key derivation is the one OSS and the SDK use.
func TestSigningKeyMatchesSDK(t *testing.T) {
	req, err := http.NewRequest(http.MethodPut, "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/exampleobject", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Disposition", "attachment")
	req.Header.Set("Content-Length", "3")
	req.Header.Set("Content-MD5", "ICy5YqxZB1uWSwcVLSNLcA==")
	req.Header.Set("Content-Type", "text/plain")
	cred, _ := credentials.NewStaticCredentialsProvider("LTAI****************", h1Secret).GetCredentials(context.Background())
	product, region, bucket, key := "oss", h1Region, "examplebucket", "exampleobject"
	sc := &signer.SigningContext{
		Product: &product, Region: &region, Bucket: &bucket, Key: &key, Request: req,
		Credentials: &cred, Time: h1Time, AdditionalHeaders: []string{"content-disposition", "content-length"},
	}
	if err := (&signer.SignerV4{}).Sign(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	if sc.StringToSign != h1StringToSign {
		t.Fatalf("the SDK's StringToSign:\n%s\nwant (H1):\n%s", sc.StringToSign, h1StringToSign)
	}
	auth := req.Header.Get("Authorization")
	if want := "Signature=" + signature(signingKey(h1Secret, h1Time, h1Region), sc.StringToSign); !strings.HasSuffix(auth, want) {
		t.Errorf("the SDK's Authorization %q; want it to end %s", auth, want)
	}
}

// TestPostSignatureVectorP1: the policy signature of an independent
// implementation's test suite (testdata/oss-vectors.md, P1).
func TestPostSignatureVectorP1(t *testing.T) {
	const policy = "eyJjb25kaXRpb25zIjpbWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMCwxMDQ4NTc2MF0seyJidWNrZXQiOiJhaGFoYSJ9LHsiQSI6ImEifSx7ImtleSI6IkFCQyJ9XSwiZXhwaXJhdGlvbiI6IjIwMTMtMTItMDFUMTI6MDA6MDBaIn0="
	at := time.Date(2025, 7, 1, 2, 44, 10, 0, time.UTC)
	if got, want := signature(signingKey(h1Secret, at, "cn-hangzhou"), policy), "4f19e5c3030598cfe1d4e34b6006cd931bae28ddd5df481ff175e70e94495793"; got != want {
		t.Errorf("x-oss-signature = %s; want %s", got, want)
	}
}
