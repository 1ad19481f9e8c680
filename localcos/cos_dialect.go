package localcos

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tencent COS's dialect: the names its documentation gives ("PUT Object",
// "GET Object", "PUT Object - copy", "POST Object", "错误码") and its v5
// signature (protocol.go, verify.go).

// cosDialect is COS as this server has always spoken it: a bucket addressed
// by host, keys of at most 850 bytes, x-cos- headers.
func cosDialect(cfg Config, now func() time.Time) *dialect {
	return &dialect{
		protocol:           ProtocolCOS,
		maxKeyBytes:        850, // COS's limit on an object key, in bytes
		keyTooLongCode:     "KeyTooLong",
		requestIDHeader:    "x-cos-request-id",
		headerPrefix:       "x-cos-",
		metaPrefix:         "x-cos-meta-",
		maxUserMetaBytes:   2 << 10, // COS's limit on x-cos-meta-*, names and values
		storageClassHeader: "x-cos-storage-class",
		acl: aclRules{
			header: "x-cos-acl", formField: "acl",
			values:  map[string]string{"": "", "default": "", aclPrivate: aclPrivate, aclPublicRead: aclPublicRead},
			invalid: "must be default, private or public-read.",
		},
		// The classes COS documents for PUT Object; ARCHIVE and DEEP_ARCHIVE
		// are not read until restored.
		classes: storageClasses{
			standard: "STANDARD",
			others: map[string]bool{
				"STANDARD_IA": false, "INTELLIGENT_TIERING": false, "ARCHIVE": true, "DEEP_ARCHIVE": true,
				"MAZ_STANDARD": false, "MAZ_STANDARD_IA": false, "MAZ_INTELLIGENT_TIERING": false,
			},
			invalidCode: "NotSupportedStorageClass",
		},
		copy: &copyRules{
			sourceHeader: "x-cos-copy-source", directiveHeader: "x-cos-metadata-directive",
			keep: "Copy", replace: "Replaced",
			conditionPrefix: "x-cos-copy-source-",
			ifMatch:         "x-cos-copy-source-if-match", ifNoneMatch: "x-cos-copy-source-if-none-match",
			sourceKey: cosCopySourceKey,
			result: func(_ http.Header, meta objectMeta) any {
				return cosCopyObjectResult{
					ETag: `"` + meta.ETag + `"`, LastModified: meta.Modified.Format(time.RFC3339),
					CRC64: strconv.FormatUint(meta.CRC64, 10),
				}
			},
		},
		auth:          cosAuth{signatureVerifier{credentials: cfg.Credentials, now: now}},
		objectHeaders: cosObjectHeaders,
		errorBody:     cosErrorBody,
	}
}

// cosAuth is the COS v5 verifier (verify.go) behind the requestAuth seam.
type cosAuth struct{ v signatureVerifier }

var _ requestAuth = cosAuth{}

func (a cosAuth) signed(r *http.Request) bool { return hasSignature(r) }

func (a cosAuth) verifyRequest(r *http.Request) (verifiedRequest, error) {
	fields, err := a.v.verifyRequest(r)
	if err != nil {
		return verifiedRequest{}, err
	}
	return verifiedRequest{
		// q-header-list names headers uriEncode'd, then lower-cased.
		covers: func(name string) bool {
			_, ok := slices.BinarySearch(fields.headerList, strings.ToLower(uriEncode(name)))
			return ok
		},
		body:          r.Body,
		decodedLength: -1,
	}, nil
}

func (a cosAuth) verifyPostForm(fields map[string]string, key, bucket string) (sizeRange, error) {
	return a.v.verifyPostForm(fields, key, bucket)
}

// cosObjectHeaders: the SDK checks x-cos-hash-crc64ecma after every upload
// and fails without it.
func cosObjectHeaders(h http.Header, meta objectMeta) {
	h.Set("ETag", `"`+meta.ETag+`"`)
	h.Set("x-cos-hash-crc64ecma", strconv.FormatUint(meta.CRC64, 10))
}

// cosErrorDocument is COS's error body.
type cosErrorDocument struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string
	RequestID string `xml:"RequestId"`
}

func cosErrorBody(ce *codedError, r *http.Request, requestID string) []byte {
	body, err := xml.Marshal(cosErrorDocument{
		Code: ce.code, Message: ce.message, Resource: r.Host + r.URL.Path, RequestID: requestID,
	})
	if err != nil {
		body = nil // the status and x-cos-request-id still tell the client what happened
	}
	return append([]byte("<?xml version='1.0' encoding='utf-8' ?>\n"), body...)
}

// cosCopyObjectResult is the body of a successful PUT Object - Copy.
type cosCopyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	ETag         string
	LastModified string
	CRC64        string
}

// cosCopySourceKey reads x-cos-copy-source, <bucket host>/<URL-encoded key>.
// Only this bucket is served: the host must be the one the request was sent
// to, or COS's name for this bucket (<bucket>.cos.<region>.myqcloud.com).
func cosCopySourceKey(s *Server, r *http.Request, value string) (string, error) {
	host, escaped, ok := strings.Cut(value, "/")
	if !ok || escaped == "" {
		return "", refuse(http.StatusBadRequest, "InvalidArgument", "x-cos-copy-source must be <bucket host>/<key>.")
	}
	if host != r.Host && !(strings.HasPrefix(host, s.bucket+".cos.") && strings.HasSuffix(host, ".myqcloud.com")) {
		return "", refuse(http.StatusBadRequest, "InvalidArgument", "x-cos-copy-source names another bucket; the local object server holds one.")
	}
	if strings.Contains(escaped, "?") {
		return "", refuse(http.StatusNotImplemented, "NotImplemented", "The local object server keeps no object versions.")
	}
	key, err := url.PathUnescape(escaped)
	if err != nil {
		return "", refuse(http.StatusBadRequest, "InvalidArgument", "x-cos-copy-source is not URL-encoded correctly.")
	}
	return key, nil
}
