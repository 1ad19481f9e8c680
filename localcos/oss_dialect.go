package localcos

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Aliyun OSS's dialect: the names its API reference gives (PutObject,
// GetObject, HeadObject, CopyObject, DeleteObject, PostObject,
// GetBucketInfo, GetBucketLocation, "Error responses") and its V4 signature
// (oss_protocol.go, oss_verify.go, oss_post.go). One bucket is served
// path-style, /{bucket}/{key}, as Aliyun's SDK addresses an endpoint that
// is an IP address (this server's 127.0.0.1:port), or by a host name whose
// first label is the bucket's (bucket.oss-cn-hangzhou.aliyuncs.com/{key}).

// ossBucketName is OSS's rule for bucket names: 3 to 63 lower-case
// letters, digits and hyphens, starting and ending with a letter or digit.
var ossBucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func ossDialect(cfg Config, now func() time.Time) (*dialect, error) {
	switch {
	case cfg.Region == "":
		return nil, errors.New("localcos: the oss protocol needs a Region (the region id V4 credential scopes name, e.g. cn-hangzhou)")
	case strings.HasPrefix(cfg.Region, "oss-"):
		// The scope names the region id; oss-cn-hangzhou is the endpoint's
		// name, and no signature would ever match it.
		return nil, errors.New("localcos: Region " + clip(cfg.Region) + " is an OSS endpoint name; want the region id, e.g. cn-hangzhou")
	case !ossBucketName.MatchString(cfg.Bucket):
		return nil, errors.New("localcos: Bucket " + clip(cfg.Bucket) + " is not an OSS bucket name (3-63 of a-z, 0-9, '-')")
	}
	v := ossVerifier{credentials: cfg.Credentials, now: now, bucket: cfg.Bucket, region: cfg.Region}
	region, created := cfg.Region, now().UTC()
	return &dialect{
		protocol:    ProtocolOSS,
		pathStyle:   true,
		virtualHost: v.virtualHosted,
		// "The name must be 1 to 1,023 bytes in length" (EC 0016-00000002);
		// a longer one is InvalidObjectName, "The Length of Object name must
		// be less than 1024" (HTTP 400 errors).
		maxKeyBytes:     1023,
		keyTooLongCode:  "InvalidObjectName",
		requestIDHeader: "x-oss-request-id",
		headerPrefix:    "x-oss-",
		metaPrefix:      "x-oss-meta-",
		// "the total size of all user metadata cannot exceed 8 KB"
		// (EC 0011-00000002).
		maxUserMetaBytes:   8 << 10,
		storageClassHeader: "x-oss-storage-class",
		nameStandardClass:  true,
		// x-oss-object-acl (PutObject, CopyObject; PostObject's form field of
		// the same name): default inherits the bucket's ACL.
		acl: aclRules{
			header: "x-oss-object-acl", formField: "x-oss-object-acl",
			values: map[string]string{
				"": "", "default": "", aclPrivate: aclPrivate, aclPublicRead: aclPublicRead, "public-read-write": aclPublicRead,
			},
			invalid: "must be default, private, public-read or public-read-write.",
		},
		// x-oss-storage-class: Standard, IA, Archive, ColdArchive,
		// DeepColdArchive (EC 0013-00000101, answered 400 InvalidArgument).
		// The archive ones are not read until restored: GetObject answers
		// 403 InvalidObjectState, "The operation is not valid for the
		// object's state".
		classes: storageClasses{
			standard:    "Standard",
			others:      map[string]bool{"IA": false, "Archive": true, "ColdArchive": true, "DeepColdArchive": true},
			invalidCode: "InvalidArgument",
		},
		copy: &copyRules{
			sourceHeader: "x-oss-copy-source", directiveHeader: "x-oss-metadata-directive",
			keep: "COPY", replace: "REPLACE",
			conditionPrefix: "x-oss-copy-source-if-",
			ifMatch:         "x-oss-copy-source-if-match", ifNoneMatch: "x-oss-copy-source-if-none-match",
			sourceKey: func(s *Server, _ *http.Request, value string) (string, error) {
				return pathCopySourceKey(s, value, "x-oss-copy-source")
			},
			// CopyObject answers the copy's CRC-64 in x-oss-hash-crc64ecma,
			// as every write does.
			result: func(h http.Header, meta objectMeta) any {
				h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(meta.CRC64, 10))
				return ossCopyObjectResult{ETag: `"` + strings.ToUpper(meta.ETag) + `"`, LastModified: meta.Modified.Format(s3Time)}
			},
		},
		auth:            ossRequestAuth{v},
		objectHeaders:   ossObjectHeaders,
		upperCaseETag:   true,
		errorBody:       ossErrorBody,
		errorHeaders:    ossErrorHeaders,
		sha256Mismatch:  errOSSContentSHA256,
		postContentType: ossPostContentType,
		rangeRule:       ossRange,
		bucketGet: func(s *Server, w http.ResponseWriter, r *http.Request) error {
			return ossBucketGet(s, w, r, region, created)
		},
	}, nil
}

// ossRequestAuth is the OSS V4 verifier (oss_verify.go, oss_post.go)
// behind the requestAuth seam.
type ossRequestAuth struct{ v ossVerifier }

var _ requestAuth = ossRequestAuth{}

// errOSSContentSHA256 refuses bytes that are not the SHA-256 a signed
// x-oss-content-sha256 claims. OSS itself signs UNSIGNED-PAYLOAD only and
// answers a hex value with 400 InvalidArgument (EC 0002-00000214); this
// server takes the claim and holds the body to it, so it refuses what does
// not match as OSS refuses the header.
var errOSSContentSHA256 = refuse(http.StatusBadRequest, "InvalidArgument",
	"The x-oss-content-sha256 you specified does not match the SHA-256 of the body.")

// errOSSV1 refuses a V1 signature (OSSAccessKeyId and Signature in the
// query; an Authorization header of another algorithm is the verifier's to
// refuse): this server reads V4 only, and a V1 URL taken for an anonymous
// request would read whatever is public with a signature nobody checked.
var errOSSV1 = ossErrArgument("Only V4 (OSS4-HMAC-SHA256) signatures are accepted; OSSAccessKeyId and Signature are V1's.")

// ossV1Query reports whether r's query carries a V1 signature's fields.
func ossV1Query(r *http.Request) bool {
	return queryHasKey(r, "OSSAccessKeyId", "Signature")
}

func (a ossRequestAuth) signed(r *http.Request) bool { return hasOSSSignature(r) || ossV1Query(r) }

func (a ossRequestAuth) verifyRequest(r *http.Request) (verifiedRequest, error) {
	if r.Header.Get("Authorization") == "" && !hasOSSSignature(r) && ossV1Query(r) {
		return verifiedRequest{}, errOSSV1
	}
	auth, err := a.v.verifyRequest(r)
	if err != nil {
		return verifiedRequest{}, err
	}
	vr := verifiedRequest{
		covers:        auth.signs,
		body:          r.Body,
		decodedLength: -1,
		checkStored:   func(r *http.Request) error { return checkOSSStoredHeadersSigned(r, auth) },
	}
	if auth.payloadHash != "" {
		want, _ := hex.DecodeString(auth.payloadHash) // ossIsLowerHex64 checked it
		if r.Method == http.MethodPut {
			vr.sha256 = want // held against the bytes as they are stored
		} else if err := checkBodySHA256(r, want, errOSSContentSHA256); err != nil {
			return verifiedRequest{}, err
		}
	}
	return vr, nil
}

// verifyPostForm holds the form to its policy as OSS does: against the
// fields as sent, before ${filename} is expanded in the key (oss_post.go),
// and the bucket condition against the bucket served. The file's size is
// held to the content-length-range while it is stored.
func (a ossRequestAuth) verifyPostForm(fields map[string]string, _, _ string) (sizeRange, error) {
	policy, err := a.v.verifyPostForm(fields)
	if err != nil {
		return sizeRange{}, err
	}
	lo, hi := policy.sizeRange()
	return sizeRange{min: lo, max: hi}, nil
}

// ossPostContentType is the stored type of a PostObject file, in the order
// PostObject documents: "x-oss-content-type form field > Content-Type
// specified in the file form field > Content-Type form field". The file
// part's own type is whatever the uploading client (a browser,
// wx.uploadFile) puts there, so only x-oss-content-type, which a policy can
// pin, decides the stored type for certain.
func ossPostContentType(fields map[string]string, fileType string) string {
	for _, t := range []string{fields["x-oss-content-type"], fileType, fields["content-type"]} {
		if t != "" {
			return t
		}
	}
	return ""
}

// ossObjectHeaders: the ETag is upper-case hex, as OSS writes it, and
// x-oss-hash-crc64ecma the CRC-64/ECMA-182 of the whole object, which
// Aliyun's SDK compares with its own after every upload (addCrcCheck,
// checkResponseHeaderCRC64; its NewCRC64 is hash/crc64 with the ECMA
// table, as the store's).
func ossObjectHeaders(h http.Header, meta objectMeta) {
	h.Set("ETag", `"`+strings.ToUpper(meta.ETag)+`"`)
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(meta.CRC64, 10))
}

// ossErrorDocument is OSS's error body ("Error responses": Code, Message,
// RequestId, HostId, the host the request was sent to, and EC, a
// fine-grained code, when this server knows the one OSS gives).
type ossErrorDocument struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
	EC        string `xml:"EC,omitempty"`
}

// ossErrorCodes are the ECs of the refusals that have a single cause here,
// as Aliyun's SDK's integration tests record them against OSS
// (client_integration_*_test.go). Other refusals carry no EC rather than a
// guessed one.
var ossErrorCodes = map[string]string{
	"NoSuchBucket":       "0015-00000101",
	"NoSuchKey":          "0026-00000001",
	"InvalidAccessKeyId": "0002-00000902",
}

func ossErrorBody(ce *codedError, r *http.Request, requestID string) []byte {
	body, err := xml.Marshal(ossErrorDocument{
		Code: ce.code, Message: ce.message, RequestID: requestID, HostID: r.Host, EC: ossErrorCodes[ce.code],
	})
	if err != nil {
		body = nil // the status and x-oss-request-id still tell the client what happened
	}
	return append([]byte(xml.Header), body...)
}

// ossErrorHeaders: x-oss-ec repeats the EC; a HEAD answer, which has no
// body, carries the error document base64-encoded in x-oss-err, where
// Aliyun's SDK reads it (tryConvertServiceError), so that HeadObject
// reports NoSuchKey rather than an unreadable error.
func ossErrorHeaders(h http.Header, ce *codedError, body []byte, r *http.Request) {
	if ec := ossErrorCodes[ce.code]; ec != "" {
		h.Set("x-oss-ec", ec)
	}
	if r.Method == http.MethodHead {
		h.Set("x-oss-err", base64.StdEncoding.EncodeToString(body))
	}
}

// ossCopyObjectResult is CopyObject's answer.
type ossCopyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	ETag         string
	LastModified string
}

var errOSSInvalidRange = refuse(http.StatusRequestedRangeNotSatisfiable, "InvalidRange",
	"The requested range cannot be satisfied.")

// ossRange applies OSS's two readings of a GET's Range ("How to obtain OSS
// resources by segmenting HTTP Range requests"): by default a range that is
// malformed or not wholly inside the object (bytes=0-1000 or bytes=1000-
// of 1000 bytes, bytes=-2000) "does not take effect" and the whole object
// is sent with 200; with x-oss-range-behavior: standard, an end past the
// object is cut to it (206) and a range that starts past it is 416
// InvalidRange (as is any range of an empty object). A list of ranges is
// left to getObject, which answers it with the whole object.
func ossRange(r *http.Request, size int64) (*http.Request, error) {
	ranges := r.Header.Values("Range")
	if len(ranges) != 1 || strings.Contains(ranges[0], ",") {
		return r, nil
	}
	first, last, suffix, ok := parseOSSRange(ranges[0])
	if !ok {
		return withoutRange(r), nil
	}
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("x-oss-range-behavior")), "standard") {
		var satisfiable bool
		if suffix >= 0 {
			satisfiable = suffix > 0 && size > 0
		} else {
			satisfiable = first < size
		}
		if !satisfiable {
			return nil, errOSSInvalidRange
		}
		return r, nil
	}
	var inside bool
	switch {
	case suffix >= 0:
		inside = suffix > 0 && suffix <= size
	case last >= 0:
		inside = last < size
	default:
		inside = first < size
	}
	if !inside {
		return withoutRange(r), nil
	}
	return r, nil
}

// parseOSSRange reads one "bytes=first-last", "bytes=first-" (last -1) or
// "bytes=-suffix" (suffix ≥ 0; else -1).
func parseOSSRange(v string) (first, last, suffix int64, ok bool) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return 0, 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if !ok {
		return 0, 0, 0, false
	}
	switch {
	case a == "":
		n, ok := parseDigits(b)
		return 0, 0, n, ok
	case b == "":
		n, ok := parseDigits(a)
		return n, -1, -1, ok
	}
	f, okF := parseDigits(a)
	l, okL := parseDigits(b)
	return f, l, -1, okF && okL && f <= l
}

// parseDigits reads a non-negative decimal number of digits only.
func parseDigits(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// withoutRange is r with its Range dropped, to be answered whole.
func withoutRange(r *http.Request) *http.Request {
	r = r.Clone(r.Context())
	r.Header.Del("Range")
	return r
}

// ossBucketInfo is GetBucketInfo's answer, with what this server knows of
// its bucket. The ACL is the bucket's as the server models it: private
// when Config.PublicPrefixes (a bucket policy) publishes only some
// prefixes, public-read when every object with the bucket's ACL is public.
type ossBucketInfo struct {
	XMLName xml.Name `xml:"BucketInfo"`
	Bucket  struct {
		Name              string
		Location          string
		CreationDate      string
		ExtranetEndpoint  string
		StorageClass      string
		AccessControlList struct{ Grant string }
	}
}

// ossLocationConstraint is GetBucketLocation's answer: the region's
// endpoint name, e.g. oss-cn-hangzhou.
type ossLocationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	Region  string   `xml:",chardata"`
}

// ossBucketGet answers GetBucketInfo (GET /bucket?bucketInfo), which the
// service's readiness probe (storage/oss Ping) sends, and GetBucketLocation
// (?location); like them, it must be signed. Listing is not served.
func ossBucketGet(s *Server, w http.ResponseWriter, r *http.Request, region string, created time.Time) error {
	if _, err := s.d.auth.verifyRequest(r); err != nil {
		return err
	}
	q := r.URL.Query()
	switch {
	case q.Has("bucketInfo"):
		var info ossBucketInfo
		info.Bucket.Name = s.bucket
		info.Bucket.Location = "oss-" + region
		info.Bucket.CreationDate = created.Format(s3Time)
		info.Bucket.ExtranetEndpoint = r.Host
		info.Bucket.StorageClass = s.d.classes.standard
		info.Bucket.AccessControlList.Grant = aclPublicRead
		if s.publicPrefixes != nil {
			info.Bucket.AccessControlList.Grant = aclPrivate
		}
		return writeXML(w, http.StatusOK, info)
	case q.Has("location"):
		return writeXML(w, http.StatusOK, ossLocationConstraint{Region: "oss-" + region})
	}
	return refuse(http.StatusNotImplemented, "NotImplemented",
		"The local object server does not list objects; of the bucket's GET operations it answers ?bucketInfo and ?location only.")
}
