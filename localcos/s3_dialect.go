package localcos

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Amazon S3's dialect: the names its API reference gives (PutObject,
// GetObject, CopyObject, POST Object, GetBucketLocation, "Error
// responses") and SigV4 (s3_sigv4.go, s3_chunked.go). One bucket is served
// path-style, /{bucket}/{key}, as S3 serves a bucket addressed by an
// endpoint that cannot name it in the host (an IP address, localhost).

// s3BucketName is S3's rule for general purpose bucket names: 3 to 63
// lower-case letters, digits, dots and hyphens, starting and ending with a
// letter or digit.
var s3BucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func s3Dialect(cfg Config, now func() time.Time) (*dialect, error) {
	switch {
	case cfg.Region == "":
		return nil, errors.New("localcos: the s3 protocol needs a Region (the region SigV4 credential scopes name, e.g. us-east-1)")
	case !s3BucketName.MatchString(cfg.Bucket):
		return nil, errors.New("localcos: Bucket " + clip(cfg.Bucket) + " is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
	}
	region := cfg.Region
	return &dialect{
		protocol:           ProtocolS3,
		pathStyle:          true,
		maxKeyBytes:        1024, // "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is at most 1,024 bytes long."
		keyTooLongCode:     "KeyTooLongError",
		requestIDHeader:    "x-amz-request-id",
		headerPrefix:       "x-amz-",
		metaPrefix:         "x-amz-meta-",
		maxUserMetaBytes:   2 << 10, // "the user-defined metadata is limited to 2 KB in size"
		storageClassHeader: "x-amz-storage-class",
		acl: aclRules{
			header: "x-amz-acl", formField: "acl",
			// S3's canned ACLs for objects. Only the public ones let anyone
			// read; the others grant the owner, the bucket owner,
			// authenticated AWS users or EC2, none of whom is anonymous, so
			// they read as private here.
			values: map[string]string{
				"": "", aclPrivate: aclPrivate, aclPublicRead: aclPublicRead, "public-read-write": aclPublicRead,
				"authenticated-read": aclPrivate, "aws-exec-read": aclPrivate,
				"bucket-owner-read": aclPrivate, "bucket-owner-full-control": aclPrivate,
			},
			invalid: "must be one of S3's canned ACLs (private, public-read, public-read-write, authenticated-read, " +
				"aws-exec-read, bucket-owner-read, bucket-owner-full-control).",
		},
		// The classes PutObject documents for x-amz-storage-class; GLACIER
		// and DEEP_ARCHIVE objects "must be restored before you can
		// access them" (GetObject answers 403 InvalidObjectState), while
		// GLACIER_IR is read at once.
		classes: storageClasses{
			standard: "STANDARD",
			others: map[string]bool{
				"REDUCED_REDUNDANCY": false, "STANDARD_IA": false, "ONEZONE_IA": false,
				"INTELLIGENT_TIERING": false, "GLACIER": true, "GLACIER_IR": false, "DEEP_ARCHIVE": true,
			},
			invalidCode: "InvalidStorageClass",
		},
		copy: &copyRules{
			sourceHeader: "x-amz-copy-source", directiveHeader: "x-amz-metadata-directive",
			keep: "COPY", replace: "REPLACE",
			conditionPrefix: "x-amz-copy-source-if-",
			ifMatch:         "x-amz-copy-source-if-match", ifNoneMatch: "x-amz-copy-source-if-none-match",
			sourceKey: s3CopySourceKey,
			result: func(_ http.Header, meta objectMeta) any {
				return s3CopyObjectResult{Xmlns: s3Namespace, ETag: `"` + meta.ETag + `"`, LastModified: meta.Modified.Format(s3Time)}
			},
		},
		auth:           sigV4Verifier{credentials: cfg.Credentials, now: now, region: region, service: "s3"},
		sha256Mismatch: errContentSHA256Mismatch,
		objectHeaders:  func(h http.Header, meta objectMeta) { h.Set("ETag", `"`+meta.ETag+`"`) },
		errorBody:      s3ErrorBody,
		bucketGet: func(s *Server, w http.ResponseWriter, r *http.Request) error {
			return s3BucketGet(s, w, r, region)
		},
	}, nil
}

// s3Time is the time format of S3's XML documents.
const s3Time = "2006-01-02T15:04:05.000Z"

const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// s3ErrorDocument is S3's error body ("Error responses": Code, Message,
// Resource, RequestId).
type s3ErrorDocument struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
}

func s3ErrorBody(ce *codedError, r *http.Request, requestID string) []byte {
	body, err := xml.Marshal(s3ErrorDocument{
		Code: ce.code, Message: ce.message, Resource: r.URL.Path, RequestID: requestID, HostID: requestID,
	})
	if err != nil {
		body = nil // the status and x-amz-request-id still tell the client what happened
	}
	return append([]byte(xml.Header), body...)
}

// s3CopyObjectResult is CopyObject's answer.
type s3CopyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	Xmlns        string   `xml:"xmlns,attr,omitempty"`
	LastModified string
	ETag         string
}

// s3CopySourceKey reads x-amz-copy-source.
func s3CopySourceKey(s *Server, _ *http.Request, value string) (string, error) {
	return pathCopySourceKey(s, value, "x-amz-copy-source")
}

// pathCopySourceKey reads a copy source header as S3 and OSS write it:
// "/bucket/key" or "bucket/key", URL-encoded, of this bucket; a version
// (?versionId=) is not kept here.
func pathCopySourceKey(s *Server, value, header string) (string, error) {
	source, query, versioned := strings.Cut(strings.TrimPrefix(value, "/"), "?")
	if versioned {
		if strings.HasPrefix(query, "versionId=") {
			return "", refuse(http.StatusNotImplemented, "NotImplemented", "The local object server keeps no object versions.")
		}
		return "", refuse(http.StatusBadRequest, "InvalidArgument", header+" must be /<bucket>/<URL-encoded key>.")
	}
	decoded, err := url.PathUnescape(source)
	if err != nil {
		return "", refuse(http.StatusBadRequest, "InvalidArgument", header+" is not URL-encoded correctly.")
	}
	bucket, key, ok := strings.Cut(decoded, "/")
	switch {
	case !ok || bucket == "" || key == "":
		return "", refuse(http.StatusBadRequest, "InvalidArgument", header+" must be /<bucket>/<URL-encoded key>.")
	case bucket != s.bucket:
		return "", errNoSuchBucket
	}
	return key, nil
}

// s3LocationConstraint is GetBucketLocation's answer; S3 leaves it empty for
// us-east-1.
type s3LocationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	Xmlns   string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

// s3BucketGet answers GetBucketLocation (GET /bucket?location), which an
// S3 client not told its region asks first; listing is not served.
func s3BucketGet(s *Server, w http.ResponseWriter, r *http.Request, region string) error {
	if _, err := s.d.auth.verifyRequest(r); err != nil {
		return err
	}
	if !requestQuery(r).Has("location") {
		return refuse(http.StatusNotImplemented, "NotImplemented",
			"The local object server does not list objects; of the bucket's GET operations it answers ?location only.")
	}
	if region == "us-east-1" {
		region = ""
	}
	return writeXML(w, http.StatusOK, s3LocationConstraint{Xmlns: s3Namespace, Region: region})
}
