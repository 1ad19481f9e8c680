package localcos

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Protocol names the wire protocol a Server speaks. The object store, its
// files, range reads, limits and faults are shared; what a protocol names
// differently (addressing, signatures, header prefix, ACL and storage class
// names, error documents) is its dialect.
type Protocol string

const (
	// ProtocolCOS is Tencent COS: v5 ("sha1") signatures, the bucket named
	// by the host and the key by the whole path, x-cos- headers. It is the
	// default (an empty Protocol).
	ProtocolCOS Protocol = "cos"
	// ProtocolS3 is Amazon S3 with Signature Version 4: one bucket served
	// path-style (/bucket/key), x-amz- headers, S3's error documents.
	ProtocolS3 Protocol = "s3"
	// ProtocolOSS is Aliyun OSS with V4 signatures (OSS4-HMAC-SHA256): one
	// bucket served path-style (/bucket/key) or by a host name that starts
	// with the bucket's, x-oss- headers, OSS's error documents.
	ProtocolOSS Protocol = "oss"
)

// dialect is everything one protocol names or decides differently. A
// protocol plugs in by returning one from its constructor (cosDialect,
// s3Dialect, ossDialect; newDialect picks by Config.Protocol); the Server
// never branches on the protocol itself.
type dialect struct {
	protocol Protocol

	// pathStyle: the first path segment names the bucket (/bucket/key), as
	// S3 and OSS serve a bucket addressed by IP or localhost. Otherwise the
	// host names the bucket and the whole path is the key (COS).
	pathStyle bool
	// virtualHost, when set, reports whether a request's Host names the
	// bucket itself (bucket.oss-cn-hangzhou.aliyuncs.com), so that the
	// whole path is the key even in a path-style dialect. It must be the
	// verifier's own rule, so that the key signed is the key served.
	virtualHost func(host string) bool
	// maxKeyBytes is the longest object key, in bytes; a longer one is
	// refused with keyTooLongCode.
	maxKeyBytes    int
	keyTooLongCode string
	// requestIDHeader carries the request id of every answer
	// (x-cos-request-id, x-amz-request-id).
	requestIDHeader string
	// headerPrefix is the protocol's own header prefix (x-cos-, x-amz-): a
	// signed write must have signed every header that has it
	// (checkStoredHeadersSigned), and metaPrefix (headerPrefix + "meta-")
	// marks user metadata, stored and served with the object, at most
	// maxUserMetaBytes of names and values together.
	headerPrefix     string
	metaPrefix       string
	maxUserMetaBytes int
	// acl names and reads the object ACL of a write.
	acl aclRules
	// storageClassHeader names the storage class in a PUT's header, a
	// form's field and a GET's answer; classes are the ones it may name.
	storageClassHeader string
	classes            storageClasses
	// nameStandardClass: GET and HEAD name the standard class too, as OSS
	// does (x-oss-storage-class: Standard); COS and S3 name only the others.
	nameStandardClass bool
	// copy names PUT Object - Copy's headers; nil when the protocol's copy
	// is not served.
	copy *copyRules
	// auth verifies signatures.
	auth requestAuth
	// objectHeaders sets what the protocol answers about a stored object
	// on GET, HEAD and every write besides its metadata: the ETag, and
	// COS's and OSS's CRC-64, which their SDKs check after every upload.
	objectHeaders func(h http.Header, meta objectMeta)
	// upperCaseETag: the ETag is the MD5 in upper-case hex, as OSS writes
	// it; COS and S3 write lower case.
	upperCaseETag bool
	// errorBody is the protocol's error document for a refusal;
	// errorHeaders, when set, adds the headers the protocol sends with one.
	errorBody    func(ce *codedError, r *http.Request, requestID string) []byte
	errorHeaders func(h http.Header, ce *codedError, body []byte, r *http.Request)
	// sha256Mismatch refuses a write whose bytes are not the SHA-256 its
	// signature claims (x-amz-content-sha256, x-oss-content-sha256).
	sha256Mismatch error
	// postContentType, when set, chooses the stored type of a POST form's
	// file from the form's fields and the file part's own Content-Type
	// (OSS's order); otherwise the Content-Type field is stored.
	postContentType func(fields map[string]string, fileType string) string
	// rangeRule, when set, applies the protocol's reading of a GET's Range
	// before it is served: it returns the request to serve (the Range
	// dropped, to answer with the whole object) or a refusal.
	rangeRule func(r *http.Request, size int64) (*http.Request, error)
	// bucketGet answers a GET of the bucket itself; nil refuses it with
	// 405, as COS's dialect does.
	bucketGet func(s *Server, w http.ResponseWriter, r *http.Request) error
}

// requestAuth is one protocol's reading of its signatures. Each is written
// from its provider's documentation, never from the SDK or the production
// signer.
type requestAuth interface {
	// signed reports whether r carries a signature at all, in a header or
	// its query: an anonymous read of a public object needs none, but one
	// that carries a signature must carry a valid one.
	signed(r *http.Request) bool
	// verifyRequest checks the signature of a header-signed or presigned
	// request. A request without one is AccessDenied.
	verifyRequest(r *http.Request) (verifiedRequest, error)
	// verifyPostForm checks a POST form: the signature over its policy,
	// the policy's expiration and every condition. fields are keyed by
	// lower-cased name; key is the object key after ${filename}
	// substitution; bucket is the bucket addressed. It returns the size
	// range the policy allows, which the caller enforces while streaming.
	verifyPostForm(fields map[string]string, key, bucket string) (sizeRange, error)
}

// verifiedRequest is what a verified request signature says about the
// request.
type verifiedRequest struct {
	// covers reports whether the signature covers the header of this
	// lower-cased name.
	covers func(name string) bool
	// body is what a write stores: the request body, or the payload a
	// signed chunked encoding carries, decoded and verified chunk by chunk.
	body io.Reader
	// decodedLength is the payload's length when the encoding announces it
	// (x-amz-decoded-content-length), else -1.
	decodedLength int64
	// sha256 is the digest the stored bytes must have when the signature
	// covers one (x-amz-content-sha256), else nil.
	sha256 []byte
	// contentCoding is a Content-Encoding token that describes the
	// transfer only (aws-chunked) and is not stored with the object.
	contentCoding string
	// checkStored, when set, is the protocol's own rule for the stored
	// headers a write must have signed, in place of the dialect's
	// (checkStoredHeadersSigned).
	checkStored func(r *http.Request) error
}

// aclRules are a protocol's object ACL names.
type aclRules struct {
	header    string // in a PUT or copy (x-cos-acl, x-amz-acl)
	formField string // in a POST form ("acl")
	// values maps each ACL a write may name to what is stored: "" (the
	// bucket's: anyone may read it, or with Config.PublicPrefixes only under
	// those prefixes, as the production bucket's policy publishes
	// avatars/*), aclPrivate or aclPublicRead.
	values map[string]string
	// invalid is the message refusing any other value.
	invalid string
}

const aclPublicRead = "public-read"

// storageClasses are the classes a protocol's writes may name.
type storageClasses struct {
	// standard is the default class; a write naming it stores "" and a
	// read does not name it, as COS, S3 and OSS answer.
	standard string
	// others maps every other class to whether it is an archive class,
	// whose bytes are not read until restored (GET answers 403
	// InvalidObjectState; this server models no restore).
	others map[string]bool
	// invalidCode refuses a class not listed (400).
	invalidCode string
}

func (c storageClasses) archived(class string) bool { return c.others[class] }

// copyRules name a protocol's PUT Object - Copy.
type copyRules struct {
	sourceHeader    string // x-cos-copy-source
	directiveHeader string // x-cos-metadata-directive
	// keep and replace are the directive's values: keep the source's
	// metadata (the default) or take the request's.
	keep, replace string
	// conditionPrefix starts every copy-source condition header; ifMatch
	// and ifNoneMatch are the two served (lower-cased); any other is
	// refused, since a condition silently ignored would copy what the
	// caller ruled out.
	conditionPrefix, ifMatch, ifNoneMatch string
	// sourceKey reads the source key from the source header's value.
	sourceKey func(s *Server, r *http.Request, value string) (string, error)
	// result is the XML document answering a copy; it may set headers of
	// the answer in h.
	result func(h http.Header, meta objectMeta) any
}

// newDialect is the dialect of cfg.Protocol.
func newDialect(cfg Config, now func() time.Time) (*dialect, error) {
	switch cfg.Protocol {
	case "", ProtocolCOS:
		if cfg.Region != "" {
			return nil, fmt.Errorf("localcos: Region is for the s3 and oss protocols; the cos protocol names none")
		}
		return cosDialect(cfg, now), nil
	case ProtocolS3:
		return s3Dialect(cfg, now)
	case ProtocolOSS:
		return ossDialect(cfg, now)
	}
	return nil, fmt.Errorf("localcos: unknown protocol %q (want %q, %q or %q)", cfg.Protocol, ProtocolCOS, ProtocolS3, ProtocolOSS)
}

// objectPath is the path of key on this server, as its protocol addresses
// it: /key, or /bucket/key path-style.
func (d *dialect) objectPath(bucket, key string) string {
	if d.pathStyle {
		return "/" + bucket + "/" + key
	}
	return "/" + key
}

// storedHeader reports whether a write's header (or form field) of this
// lower-cased name is stored with the object and served with it; a signed
// write must have signed every one it sends (checkStoredHeadersSigned).
func (d *dialect) storedHeader(name string) bool {
	switch name {
	case "content-type", "cache-control", "content-disposition", "content-encoding", "expires":
		return true
	}
	return strings.HasPrefix(name, d.metaPrefix)
}

// checkStoredHeadersSigned refuses a write carrying a header the object would
// be stored or served with (the protocol's own headers: x-cos-*, x-amz-*;
// Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
// Expires) that its signature does not cover: whoever holds a presigned URL
// could otherwise choose them, e.g. a year of Cache-Control or a public ACL.
// COS documents no such check; the refusal is S3's for a presigned request
// with unsigned x-amz-* headers, 403 AccessDenied "There were headers
// present in the request which were not signed".
//
// A protocol may have a rule of its own (verifiedRequest.checkStored): OSS
// holds presigned writes to it, its Content-Length included.
func (d *dialect) checkStoredHeadersSigned(r *http.Request, vr verifiedRequest) error {
	if vr.checkStored != nil {
		return vr.checkStored(r)
	}
	var unsigned []string
	for name := range r.Header {
		if name = strings.ToLower(name); !strings.HasPrefix(name, d.headerPrefix) && !d.storedHeader(name) {
			continue
		}
		if !vr.covers(name) {
			unsigned = append(unsigned, name)
		}
	}
	if len(unsigned) > 0 {
		return refuse(http.StatusForbidden, "AccessDenied",
			"There were headers present in the request which were not signed: "+fieldList(unsigned)+".")
	}
	return nil
}

// quotedETag is the ETag header value of meta's bytes.
func (d *dialect) quotedETag(meta objectMeta) string {
	if d.upperCaseETag {
		return `"` + strings.ToUpper(meta.ETag) + `"`
	}
	return `"` + meta.ETag + `"`
}

// errSHA256Mismatch is the protocol's refusal of bytes that are not the
// SHA-256 the signature claims; S3's when the protocol names none, so that
// a mismatch is never taken for success.
func (d *dialect) errSHA256Mismatch() error {
	if d.sha256Mismatch != nil {
		return d.sha256Mismatch
	}
	return errContentSHA256Mismatch
}

// bucketInPath reports whether the first path segment of r names the
// bucket.
func (d *dialect) bucketInPath(r *http.Request) bool {
	return d.pathStyle && (d.virtualHost == nil || !d.virtualHost(r.Host))
}

// named reports whether a write may name class besides the standard one.
func (c storageClasses) named(class string) bool {
	_, ok := c.others[class]
	return ok
}
