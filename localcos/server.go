// Package localcos is a local object server: one bucket kept in a folder,
// served over HTTP as a cloud object store serves it (PUT, GET, HEAD,
// DELETE, PUT Object - Copy, POST form uploads), with the store's signature
// checks and its XML error documents, so its SDKs can be pointed at it
// unchanged. It speaks Tencent COS (the default), Amazon S3 (Signature
// Version 4, path-style) and Aliyun OSS (V4 signatures, path-style or by
// the bucket's host name), one protocol per Server (Config.Protocol),
// each through the same seam (dialect.go). `serve --dev` runs it in
// process, and the tests run the production clients and signers against it.
//
// It owns its own reading of each protocol (COS: protocol.go, verify.go,
// cos_dialect.go; S3: s3_*.go; OSS: oss_*.go), written from the providers'
// documentation and independent of the production signers in packages
// storage/cos, storage/oss and storage/s3, which it does not import: a mistake in a signer cannot hide in
// the verifier. The object store (files, range reads, limits) is shared by
// every protocol, and so is the fault injector (Faults) that makes it
// behave like a sick store, and the model of who may read an object
// anonymously (Config.PublicPrefixes). (The package keeps its first name,
// localcos, for now.)
package localcos

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Config configures the local object server.
type Config struct {
	// Protocol is the protocol served; empty is ProtocolCOS.
	Protocol Protocol
	Dir      string // objects live here (created if missing)
	// Bucket is the bucket's name, e.g. "wxavatar-1250000000": what POST
	// policy {"bucket":…} conditions are held against, and for the path-style
	// protocols (S3, OSS) the first segment of every path.
	Bucket string
	// Region is the region a signature's credential scope must name: an S3
	// region (e.g. "us-east-1") or an OSS region id (e.g. "cn-hangzhou");
	// required for ProtocolS3 and ProtocolOSS, empty for COS.
	Region      string
	Credentials func() []Key     // accepted keys; several at once while keys rotate
	Now         func() time.Time // nil → time.Now
	Logger      *slog.Logger     // nil → discard; signatures, keys and tokens are never logged
	// MaxObjectBytes is the largest object a PUT or POST may store;
	// 0 → 5 GiB, the limit of a single PUT on COS, OSS and S3.
	MaxObjectBytes int64
	// PublicPrefixes model the production bucket's policy, which keeps the
	// bucket private and publishes only some key prefixes (avatars/): when
	// not nil, an object whose ACL is the bucket's (none named, or COS's and
	// OSS's "default") may be read anonymously only if its key starts with
	// one of them. An object whose ACL is public-read (or public-read-write)
	// is public and a private one private, wherever they are. Nil makes
	// every object with the bucket's ACL public, as a public-read bucket
	// does.
	PublicPrefixes []string
}

const (
	defaultMaxObjectBytes = 5 << 30
	// maxLoggedPathBytes cuts the path a log line carries: the longest
	// key of any protocol served (S3's 1024 bytes) and a bucket segment.
	maxLoggedPathBytes = 1024 + 64
	defaultContentType = "application/octet-stream"

	// A POST form's fields come before its file and are read before the
	// signature can be checked, so what is parsed of them is bounded: the
	// values (held in memory), the number of parts, each part's header, and
	// all the bytes before the file's, boundaries and unnamed parts included.
	// The file itself is streamed to disk once the policy is verified.
	maxFormFieldBytes  = 64 << 10
	maxFormBytes       = 256 << 10
	maxFormParts       = 64
	maxPartHeaderBytes = 8 << 10
	maxFormPrefixBytes = maxFormBytes + 64<<10
)

// Server is an http.Handler that behaves like a bucket of its protocol:
// anyone may GET or HEAD an object whose ACL is public-read, or the
// bucket's (default) where Config.PublicPrefixes makes it public, while
// reads of any other object, PUT, POST (form upload) and DELETE must carry
// a valid signature. Errors are the protocol's XML documents, so its SDKs
// can be pointed at it unchanged.
//
// It is a plain http.Handler so that fault injection (latency, 5xx, dropped
// connections) is a wrapper in front of it: see Faults.
type Server struct {
	objectsDir     string
	tmpDir         string // same file system as objectsDir, so rename is atomic
	bucket         string
	d              *dialect
	now            func() time.Time
	maxObjectBytes int64
	publicPrefixes []string // nil: every object with the bucket's ACL is public
	log            *slog.Logger
}

var _ http.Handler = (*Server)(nil)

// New checks cfg and prepares cfg.Dir.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Dir == "":
		return nil, errors.New("localcos: empty Dir")
	case cfg.Bucket == "":
		return nil, errors.New("localcos: empty Bucket")
	case cfg.Credentials == nil:
		return nil, errors.New("localcos: nil Credentials")
	case cfg.MaxObjectBytes < 0:
		return nil, errors.New("localcos: negative MaxObjectBytes")
	}
	s := &Server{
		objectsDir:     filepath.Join(cfg.Dir, "objects"),
		tmpDir:         filepath.Join(cfg.Dir, "tmp"),
		bucket:         cfg.Bucket,
		now:            cfg.Now,
		maxObjectBytes: cfg.MaxObjectBytes,
		publicPrefixes: slices.Clone(cfg.PublicPrefixes),
		log:            cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxObjectBytes == 0 {
		s.maxObjectBytes = defaultMaxObjectBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	d, err := newDialect(cfg, s.now)
	if err != nil {
		return nil, err
	}
	s.d = d
	for _, d := range []string{s.objectsDir, s.tmpDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("localcos: %w", err)
		}
	}
	return s, nil
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := rand.Text()
	w.Header().Set(s.d.requestIDHeader, requestID)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	if err := s.serve(rec, r); err != nil {
		s.writeError(rec, r, requestID, err)
		return
	}
	// The query is left out of every log line: it may hold a signature.
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "local object server request", slog.String("protocol", string(s.d.protocol)),
		slog.String("method", logMethod(r.Method)), slog.String("path", logPath(r.URL.Path)),
		slog.Int("status", rec.status), slog.String("request_id", requestID))
}

// serve routes by path and method; it returns the refusal to send, if any.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) error {
	key, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok {
		return refuse(http.StatusBadRequest, "InvalidURI", "The request path does not start with '/'.")
	}
	if s.d.bucketInPath(r) {
		bucket, rest, _ := strings.Cut(key, "/")
		switch bucket {
		case "":
			return refuse(http.StatusNotImplemented, "NotImplemented",
				"The local object server serves one bucket, addressed path-style (/bucket/key); it lists no buckets.")
		case s.bucket:
		default:
			return errNoSuchBucket
		}
		key = rest
	}
	if key == "" {
		switch r.Method {
		case http.MethodHead:
			return s.headBucket(w, r)
		case http.MethodPost:
			return s.postObject(w, r)
		case http.MethodGet:
			if s.d.bucketGet != nil {
				return s.d.bucketGet(s, w, r)
			}
		}
		return errMethodNotAllowed
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
	default:
		return errMethodNotAllowed
	}
	if err := s.checkKey(key); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodPut:
		if s.d.copy != nil && r.Header.Get(s.d.copy.sourceHeader) != "" {
			return s.copyObject(w, r, key)
		}
		return s.putObject(w, r, key)
	case http.MethodDelete:
		return s.deleteObject(w, r, key)
	}
	return s.getObject(w, r, key)
}

var (
	errMethodNotAllowed = refuse(http.StatusMethodNotAllowed, "MethodNotAllowed",
		"The specified method is not allowed against this resource.")
	errNoSuchKey    = refuse(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	errNoSuchBucket = refuse(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
)

// checkKey applies the protocol's rules for object keys. Keys never reach
// the file system as paths (see objectPath), so these rules are about
// compatibility, not safety.
func (s *Server) checkKey(key string) error {
	switch {
	case key == "":
		return refuse(http.StatusBadRequest, "InvalidArgument", "The object key is empty.")
	case len(key) > s.d.maxKeyBytes:
		return refuse(http.StatusBadRequest, s.d.keyTooLongCode,
			fmt.Sprintf("The object key is longer than %d bytes.", s.d.maxKeyBytes))
	case strings.ContainsRune(key, 0):
		return refuse(http.StatusBadRequest, "InvalidArgument", "The object key contains a NUL character.")
	case !utf8.ValidString(key):
		return refuse(http.StatusBadRequest, "InvalidArgument", "The object key is not valid UTF-8.")
	}
	return nil
}

// headBucket answers the readiness probe (SDK Bucket.Head); unlike objects,
// the bucket itself is not public.
func (s *Server) headBucket(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.d.auth.verifyRequest(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// getObject serves GET and HEAD. An anonymous read needs an object anyone
// may read (anonymouslyReadable); a request that carries a signature must
// carry a valid one, as on COS, S3 and OSS. An object in an archive class
// answers GET with InvalidObjectState, as COS, S3 and OSS do until it is
// restored (which this server does not model); HEAD still tells its class.
func (s *Server) getObject(w http.ResponseWriter, r *http.Request, key string) error {
	signed := s.d.auth.signed(r)
	if signed {
		if _, err := s.d.auth.verifyRequest(r); err != nil {
			return err
		}
	}
	obj, err := s.openObject(key)
	if err != nil {
		return err
	}
	defer obj.file.Close()
	if !signed && !s.anonymouslyReadable(obj.meta) {
		return errPrivateObject
	}
	if r.Method == http.MethodGet && s.d.classes.archived(obj.meta.StorageClass) {
		return errArchived
	}
	if obj.meta.CustomerKey && r.Header.Get(s.d.customerKeyHeader()) == "" {
		return errCustomerKeyNeeded
	}
	if s.d.rangeRule != nil {
		if r, err = s.d.rangeRule(r, obj.meta.Size); err != nil {
			return err
		}
	}
	h := w.Header()
	h.Set("Content-Type", obj.meta.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	if obj.meta.CacheControl != "" {
		h.Set("Cache-Control", obj.meta.CacheControl)
	}
	for name, value := range obj.meta.Headers {
		h.Set(name, value)
	}
	// COS and S3 name the class only when it is not STANDARD (GET/HEAD
	// Object); OSS always does.
	if obj.meta.StorageClass != "" {
		h.Set(s.d.storageClassHeader, obj.meta.StorageClass)
	} else if s.d.nameStandardClass {
		h.Set(s.d.storageClassHeader, s.d.classes.standard)
	}
	s.d.objectHeaders(h, obj.meta)
	// COS documents Range as one "bytes=first-last" and says nothing of a
	// list; S3, which serves one range too, is observed to answer a list
	// with 200 and the whole object, as RFC 9110 lets a server that ignores
	// Range do, and OSS lets a range it cannot serve "not take effect". So
	// does this server, rather than the multipart/byteranges answer
	// ServeContent would write, which no COS client expects.
	if ranges := r.Header.Values("Range"); len(ranges) > 1 || len(ranges) == 1 && strings.Contains(ranges[0], ",") {
		r = r.Clone(r.Context())
		r.Header.Del("Range")
	}
	// ServeContent answers Range, If-Range, If-None-Match and HEAD from the
	// ETag and modification time set above.
	http.ServeContent(w, r, "", obj.meta.Modified, obj.body)
	return nil
}

// anonymouslyReadable reports whether anyone may read the object: a
// public-read one always, a private one never, one with the bucket's ACL
// if no PublicPrefixes are set or its key starts with one of them.
func (s *Server) anonymouslyReadable(meta objectMeta) bool {
	switch {
	case meta.ACL == aclPublicRead:
		return true
	case meta.ACL != "":
		return false
	case s.publicPrefixes == nil:
		return true
	}
	for _, prefix := range s.publicPrefixes {
		if strings.HasPrefix(meta.Key, prefix) {
			return true
		}
	}
	return false
}

func (s *Server) putObject(w http.ResponseWriter, r *http.Request, key string) error {
	vr, err := s.d.auth.verifyRequest(r)
	if err != nil {
		return err
	}
	if err := s.d.checkStoredHeadersSigned(r, vr); err != nil {
		return err
	}
	// COS and S3 want the length up front, or a chunked body (ContentLength -1).
	if r.ContentLength == 0 && r.Header.Get("Content-Length") == "" && len(r.TransferEncoding) == 0 {
		return refuse(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	}
	if r.ContentLength > s.maxObjectBytes && vr.decodedLength < 0 || vr.decodedLength > s.maxObjectBytes {
		return errEntityTooLarge(s.maxObjectBytes)
	}
	var wantMD5 []byte
	if v := r.Header.Get("Content-MD5"); v != "" {
		sum, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(sum) != md5.Size {
			return refuse(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified is not valid.")
		}
		wantMD5 = sum
	}
	attrs, err := s.d.readObjectAttrs(headerValues(r.Header), s.d.acl.header)
	if err != nil {
		return err
	}
	if vr.contentCoding != "" {
		attrs.dropContentCoding(vr.contentCoding)
	}
	meta, err := s.writeObject(r.Context(), objectWrite{
		key: key, attrs: attrs, body: vr.body,
		size: sizeRange{min: 0, max: s.maxObjectBytes}, md5: wantMD5, sha256: vr.sha256,
	})
	if err != nil {
		return err
	}
	s.d.objectHeaders(w.Header(), meta)
	w.WriteHeader(http.StatusOK)
	return nil
}

// copyObject is PUT Object - Copy from another key of this bucket. The
// metadata (Content-Type, Cache-Control, Content-Disposition,
// Content-Encoding, Expires, user metadata) is the source's (the directive's
// keep value, COS's Copy or S3's COPY, the default) or only what the request
// sets (Replaced, REPLACE); the ACL and the storage class are never the
// source's but the request's, by default the bucket's ACL and STANDARD, as
// COS and S3 document; the copy-source If-Match and If-None-Match headers
// make it conditional on the source's ETag.
func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, key string) error {
	rules := s.d.copy
	vr, err := s.d.auth.verifyRequest(r)
	if err != nil {
		return err
	}
	// A signature that does not cover the copy-source header (and every
	// other header of the protocol's prefix) cannot copy: first, as the
	// stores that check unsigned headers refuse it.
	if err := s.d.checkStoredHeadersSigned(r, vr); err != nil {
		return err
	}
	// A copy has no body. One with a body is a presigned PUT (whose signature
	// covers its Content-Length but, as the SDKs sign, never the copy-source
	// header) turned into a copy of another object, of another size. An
	// empty chunked body is no body: Aliyun's SDK sends its CopyObject so.
	if r.ContentLength > 0 || r.ContentLength < 0 && !emptyBody(r.Body) {
		return errCopyWithBody
	}
	if vr.sha256 != nil && string(vr.sha256) != string(emptySHA256[:]) {
		return s.d.errSHA256Mismatch()
	}
	srcKey, err := rules.sourceKey(s, r, r.Header.Get(rules.sourceHeader))
	if err != nil {
		return err
	}
	if err := s.checkKey(srcKey); err != nil {
		return err
	}
	directive := r.Header.Get(rules.directiveHeader)
	if directive != "" && directive != rules.keep && directive != rules.replace {
		return refuse(http.StatusBadRequest, "InvalidArgument",
			rules.directiveHeader+" must be "+rules.keep+" or "+rules.replace+".")
	}
	attrs, err := s.d.readObjectAttrs(headerValues(r.Header), s.d.acl.header)
	if err != nil {
		return err
	}
	for name := range r.Header {
		switch name := strings.ToLower(name); {
		case !strings.HasPrefix(name, rules.conditionPrefix):
		case name == rules.ifMatch, name == rules.ifNoneMatch:
		default:
			// A condition silently ignored would copy what the caller ruled out.
			return refuse(http.StatusNotImplemented, "NotImplemented", "The local object server does not support "+name+".")
		}
	}
	src, err := s.openObject(srcKey)
	if err != nil {
		return err
	}
	defer src.file.Close()
	// ETags are hex, in upper case on OSS: the case is not the version.
	if m := r.Header.Get(rules.ifMatch); m != "" && !strings.EqualFold(strings.Trim(m, `"`), src.meta.ETag) {
		return errPreconditionFailed
	}
	if m := r.Header.Get(rules.ifNoneMatch); m != "" && strings.EqualFold(strings.Trim(m, `"`), src.meta.ETag) {
		return errPreconditionFailed
	}
	if s.d.classes.archived(src.meta.StorageClass) {
		return errArchived
	}
	if directive != rules.replace {
		attrs.contentType, attrs.cacheControl, attrs.headers = src.meta.ContentType, src.meta.CacheControl, src.meta.Headers
	}
	meta, err := s.writeObject(r.Context(), objectWrite{
		key: key, attrs: attrs, body: src.body,
		size: sizeRange{min: 0, max: s.maxObjectBytes},
	})
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, rules.result(w.Header(), meta))
}

var errCopyWithBody = refuse(http.StatusBadRequest, "InvalidRequest", "A copy request must not carry a body.")

// emptyBody reports whether body ends before its first byte; a body that
// fails to say so is not known to be empty.
func emptyBody(body io.Reader) bool {
	if body == nil {
		return true
	}
	_, err := io.ReadFull(body, make([]byte, 1))
	return errors.Is(err, io.EOF)
}

// writeXML answers a write that succeeded with an XML document.
func writeXML(w http.ResponseWriter, status int, doc any) error {
	body, err := xml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode %T: %w", doc, err)
	}
	body = append([]byte(xml.Header), body...)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the write is done; a vanished client changes nothing
	return nil
}

var errPreconditionFailed = refuse(http.StatusPreconditionFailed, "PreconditionFailed",
	"At least one of the pre-conditions you specified did not hold.")

// deleteObject answers 204 whether or not the object existed, like COS and S3.
func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, key string) error {
	if _, err := s.d.auth.verifyRequest(r); err != nil {
		return err
	}
	if err := os.Remove(s.objectPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete object: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// postObject is POST Object (OSS's PostObject): a multipart form whose fields come first
// and whose file part comes last. The file is streamed, never buffered; any
// part after it is ignored.
func (s *Server) postObject(w http.ResponseWriter, r *http.Request) error {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mediaType != "multipart/form-data" && mediaType != "multipart/mixed") || params["boundary"] == "" {
		return errMalformedPOST
	}
	// Until the file part begins, the body is read through prefix, which
	// stops at maxFormPrefixBytes: mime/multipart alone would parse up to
	// 10 MiB of header per part, and skip unnamed parts of any size.
	prefix := &formPrefix{r: r.Body, left: maxFormPrefixBytes}
	mr := multipart.NewReader(prefix, params["boundary"])
	fields := make(map[string]string)
	total := 0
	for range maxFormParts {
		part, err := mr.NextPart()
		switch {
		case prefix.exceeded:
			return errFormTooLarge("the form's fields and part headers before the file")
		case errors.Is(err, io.EOF):
			return refuse(http.StatusBadRequest, "InvalidArgument", "POST requires exactly one file upload per request.")
		case err != nil:
			return errMalformedPOST
		case partHeaderBytes(part.Header) > maxPartHeaderBytes:
			return errFormTooLarge("a part's header")
		}
		// COS and S3 match form field names without regard to case.
		name := strings.ToLower(part.FormName())
		if name == "file" {
			prefix.lift()
			return s.storePostFile(w, r, fields, part)
		}
		if name == "" {
			continue
		}
		value, err := readFormField(part, prefix)
		if err != nil {
			return err
		}
		if _, dup := fields[name]; dup {
			return refuse(http.StatusBadRequest, "InvalidArgument", "The form field "+name+" appears more than once.")
		}
		if total += len(value); total > maxFormBytes {
			return errFormTooLarge("the form's fields before the file")
		}
		fields[name] = value
	}
	return errFormTooLarge(fmt.Sprintf("the form has more than %d parts before the file", maxFormParts))
}

var errMalformedPOST = refuse(http.StatusBadRequest, "MalformedPOSTRequest",
	"The body of your POST request is not well-formed multipart/form-data.")

// errFormTooLarge is COS's refusal of what comes before a form's file (S3
// documents the same code).
func errFormTooLarge(what string) error {
	return refuse(http.StatusBadRequest, "MaxPostPreDataLengthExceededError",
		"Your POST request fields preceding the upload file were too large: "+what+".")
}

func readFormField(part *multipart.Part, prefix *formPrefix) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxFormFieldBytes+1))
	switch {
	case prefix.exceeded:
		return "", errFormTooLarge("the form's fields and part headers before the file")
	case err != nil:
		return "", errMalformedPOST
	case len(b) > maxFormFieldBytes:
		return "", errFormTooLarge(fmt.Sprintf("a field is larger than %d KiB", maxFormFieldBytes>>10))
	}
	return string(b), nil
}

// partHeaderBytes is the size of a part's header as sent, near enough.
func partHeaderBytes(h textproto.MIMEHeader) int {
	n := 0
	for name, values := range h {
		for _, v := range values {
			n += len(name) + len(": \r\n") + len(v)
		}
	}
	return n
}

// formPrefix reads a form's body and fails once more than left bytes have
// been read, until lift: what precedes the file is bounded, the file is not
// (writeObject bounds it by the policy).
type formPrefix struct {
	r        io.Reader
	left     int64
	lifted   bool
	exceeded bool
}

var errFormPrefix = errors.New("form prefix too large")

func (p *formPrefix) Read(b []byte) (int, error) {
	if p.lifted {
		return p.r.Read(b)
	}
	if p.left <= 0 {
		p.exceeded = true
		return 0, errFormPrefix
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= int64(n)
	return n, err
}

func (p *formPrefix) lift() { p.lifted = true }

// storePostFile verifies the form, then streams the file part to disk while
// holding it to the policy's content-length-range.
func (s *Server) storePostFile(w http.ResponseWriter, r *http.Request, fields map[string]string, file *multipart.Part) error {
	key := fields["key"]
	if key == "" {
		return refuse(http.StatusBadRequest, "InvalidArgument", "Bucket POST must contain a field named 'key'.")
	}
	key = strings.ReplaceAll(key, "${filename}", file.FileName())
	if err := s.checkKey(key); err != nil {
		return err
	}
	size, err := s.d.auth.verifyPostForm(fields, key, s.bucket)
	if err != nil {
		return err
	}
	size.max = min(size.max, s.maxObjectBytes)
	// A form names the ACL "acl" where a PUT has the header x-cos-acl.
	attrs, err := s.d.readObjectAttrs(fields, s.d.acl.formField)
	if err != nil {
		return err
	}
	if s.d.postContentType != nil {
		if attrs.contentType = s.d.postContentType(fields, file.Header.Get("Content-Type")); attrs.contentType == "" {
			attrs.contentType = defaultContentType
		}
	}
	meta, err := s.writeObject(r.Context(), objectWrite{key: key, attrs: attrs, body: file, size: size})
	if err != nil {
		return err
	}
	return s.answerPost(w, r, fields, meta)
}

// answerPost follows success_action_redirect (303) or success_action_status
// (200, 201 with a PostResponse document, else 204), as COS and S3 do.
func (s *Server) answerPost(w http.ResponseWriter, r *http.Request, fields map[string]string, meta objectMeta) error {
	h := w.Header()
	s.d.objectHeaders(h, meta)
	location := objectLocation(r, s.d.objectPath(s.bucket, meta.Key))
	h.Set("Location", location)
	if redirect, err := url.Parse(fields["success_action_redirect"]); err == nil &&
		(redirect.Scheme == "http" || redirect.Scheme == "https") {
		q := redirect.Query()
		q.Set("bucket", s.bucket)
		q.Set("key", meta.Key)
		q.Set("etag", s.d.quotedETag(meta))
		redirect.RawQuery = q.Encode()
		h.Set("Location", redirect.String())
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch fields["success_action_status"] {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "201":
		return writeXML(w, http.StatusCreated, postResponse{Location: location, Bucket: s.bucket, Key: meta.Key, ETag: s.d.quotedETag(meta)})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// postResponse is the body of a POST Object answered with 201.
type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

// objectLocation is the URL of path on this server, as the client addressed
// it.
func objectLocation(r *http.Request, path string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host, Path: path}).String()
}

// Object files.
//
// An object is one file named after the SHA-256 of its key (so no key can
// name a path outside Dir): its bytes, then its metadata as JSON, then the
// JSON's length (4 bytes, big-endian) and a magic. Keeping bytes and
// metadata in one file makes every write a single rename: a reader sees the
// old object or the new one, whole, never the bytes of one with the metadata
// of the other, and concurrent writers of one key simply race to the last
// rename.

const objectMagic = "wxcos\x00o1"

type objectMeta struct {
	Key         string `json:"key"`
	ContentType string `json:"content_type"`
	// CacheControl is the Cache-Control the object is served with, if any.
	CacheControl string `json:"cache_control,omitempty"`
	// Headers are the other metadata the object is served with:
	// Content-Disposition, Content-Encoding, Expires and user metadata
	// (X-Cos-Meta-*, X-Amz-Meta-*), keyed by canonical header name.
	Headers map[string]string `json:"headers,omitempty"`
	// ACL is private or public-read; empty inherits the bucket's (public-read).
	ACL string `json:"acl,omitempty"`
	// StorageClass is empty for STANDARD.
	StorageClass string `json:"storage_class,omitempty"`
	// CustomerKey: stored encrypted with a key the writer gave (SSE-C,
	// <prefix>server-side-encryption-customer-algorithm); only a read
	// that gives the key back may have the bytes. The key itself is not
	// kept: this server models the refusal, not the cipher.
	CustomerKey bool      `json:"sse_c,omitempty"`
	ETag        string    `json:"etag"` // hex MD5 of the bytes, unquoted
	CRC64       uint64    `json:"crc64ecma"`
	Size        int64     `json:"size"`
	Modified    time.Time `json:"modified"`
}

func (s *Server) objectPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.objectsDir, hex.EncodeToString(sum[:]))
}

type storedObject struct {
	file *os.File
	meta objectMeta
	body *io.SectionReader
}

// openObject opens key for reading; the caller closes obj.file.
func (s *Server) openObject(key string) (storedObject, error) {
	f, err := os.Open(s.objectPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return storedObject{}, errNoSuchKey
	}
	if err != nil {
		return storedObject{}, fmt.Errorf("open object: %w", err)
	}
	meta, err := readObjectMeta(f)
	if errors.Is(err, errTornObject) {
		f.Close()
		s.log.Error("local object server: an object was cut short, presumably by a crash; it reads as missing",
			"file", f.Name(), "error", err.Error())
		return storedObject{}, errNoSuchKey
	}
	if err != nil {
		f.Close()
		return storedObject{}, fmt.Errorf("read object %s: %w", f.Name(), err)
	}
	return storedObject{file: f, meta: meta, body: io.NewSectionReader(f, 0, meta.Size)}, nil
}

// errTornObject: the file is not a whole object (see appendObjectMeta).
var errTornObject = errors.New("torn object")

func readObjectMeta(f *os.File) (objectMeta, error) {
	fi, err := f.Stat()
	if err != nil {
		return objectMeta{}, err
	}
	const tail = 4 + int64(len(objectMagic))
	size := fi.Size()
	var footer [tail]byte
	if size < tail {
		return objectMeta{}, fmt.Errorf("%w: file too short for an object", errTornObject)
	}
	if _, err := f.ReadAt(footer[:], size-tail); err != nil {
		return objectMeta{}, err
	}
	if string(footer[4:]) != objectMagic {
		return objectMeta{}, fmt.Errorf("%w: no object footer", errTornObject)
	}
	n := int64(binary.BigEndian.Uint32(footer[:4]))
	dataSize := size - tail - n
	if dataSize < 0 {
		return objectMeta{}, fmt.Errorf("%w: metadata length out of range", errTornObject)
	}
	raw := make([]byte, n)
	if _, err := f.ReadAt(raw, dataSize); err != nil {
		return objectMeta{}, err
	}
	var meta objectMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return objectMeta{}, fmt.Errorf("%w: %w", errTornObject, err)
	}
	if meta.Size != dataSize {
		return objectMeta{}, fmt.Errorf("%w: metadata size disagrees with the file", errTornObject)
	}
	return meta, nil
}

// objectWrite is one object to store, with the size range it must fall in
// and, when the client sent Content-MD5 or signed x-amz-content-sha256, the
// digests it must have.
type objectWrite struct {
	key    string
	attrs  objectAttrs
	body   io.Reader
	size   sizeRange
	md5    []byte
	sha256 []byte
}

// writeObject streams in.body to a temporary file, checks its size and
// digest, appends the metadata and renames the file into place. Nothing is
// visible under the key until the rename.
func (s *Server) writeObject(ctx context.Context, in objectWrite) (meta objectMeta, err error) {
	tmp, err := os.CreateTemp(s.tmpDir, "object-*")
	if err != nil {
		return objectMeta{}, fmt.Errorf("create temporary object: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	sumMD5, sumCRC, sumSHA256 := md5.New(), crc64.New(crc64.MakeTable(crc64.ECMA)), sha256.New()
	sinks := []io.Writer{tmp, sumMD5, sumCRC}
	if in.sha256 != nil {
		sinks = append(sinks, sumSHA256)
	}
	body := &clientBody{ctx: ctx, r: in.body}
	// Reading one byte past the limit is how a body that is too large is
	// told apart from one that is exactly the limit; reading stops there.
	limit := min(in.size.max, int64(1<<62)) + 1
	n, err := io.Copy(io.MultiWriter(sinks...), io.LimitReader(body, limit))
	if ce, ok := asCodedError(body.err); ok {
		// A refusal of the body's own encoding (a chunk signature).
		return objectMeta{}, ce
	}
	switch {
	case body.err != nil:
		return objectMeta{}, &codedError{status: http.StatusBadRequest, code: "IncompleteBody",
			message: "The request body ended before the object did.", cause: body.err}
	case err != nil:
		return objectMeta{}, fmt.Errorf("write temporary object: %w", err)
	case n > in.size.max:
		return objectMeta{}, errEntityTooLarge(in.size.max)
	case n < in.size.min:
		return objectMeta{}, refuse(http.StatusBadRequest, "EntityTooSmall",
			fmt.Sprintf("Your proposed upload is smaller than the minimum allowed size of %d bytes.", in.size.min))
	case in.md5 != nil && string(in.md5) != string(sumMD5.Sum(nil)):
		return objectMeta{}, refuse(http.StatusBadRequest, "BadDigest",
			"The Content-MD5 you specified did not match what we received.")
	case in.sha256 != nil && string(in.sha256) != string(sumSHA256.Sum(nil)):
		return objectMeta{}, s.d.errSHA256Mismatch()
	}
	meta = objectMeta{
		Key:          in.key,
		ContentType:  in.attrs.contentType,
		CacheControl: in.attrs.cacheControl,
		Headers:      in.attrs.headers,
		ACL:          in.attrs.acl,
		StorageClass: in.attrs.storageClass,
		CustomerKey:  in.attrs.customerKey,
		ETag:         hex.EncodeToString(sumMD5.Sum(nil)),
		CRC64:        sumCRC.Sum64(),
		Size:         n,
		Modified:     s.now().UTC(),
	}
	if err := appendObjectMeta(tmp, meta); err != nil {
		return objectMeta{}, err
	}
	if err := tmp.Close(); err != nil {
		return objectMeta{}, fmt.Errorf("close temporary object: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.objectPath(in.key)); err != nil {
		return objectMeta{}, fmt.Errorf("rename object into place: %w", err)
	}
	return meta, nil
}

// appendObjectMeta writes the metadata footer.
//
// There is no fsync: this is a development object server, and like the
// SQLite database it runs beside (WAL, synchronous=NORMAL), it may lose the
// last writes to a power loss or kernel crash, while a flush per object would
// cost more than the rest of an upload or a copy together. It never serves a
// torn object: openObject checks the footer (magic, length, size), and one
// that a crash left short reads as missing.
func appendObjectMeta(f *os.File, meta objectMeta) error {
	raw, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode object metadata: %w", err)
	}
	raw = binary.BigEndian.AppendUint32(raw, uint32(len(raw)))
	raw = append(raw, objectMagic...)
	if _, err := f.Write(raw); err != nil {
		return fmt.Errorf("write object metadata: %w", err)
	}
	return nil
}

// Object attributes.

// objectAttrs are what a write stores besides the bytes.
type objectAttrs struct {
	contentType  string
	cacheControl string
	headers      map[string]string // see objectMeta.Headers
	acl          string            // see objectMeta.ACL
	storageClass string            // see objectMeta.StorageClass
	customerKey  bool              // see objectMeta.CustomerKey
}

const aclPrivate = "private"

var (
	errPrivateObject = refuse(http.StatusForbidden, "AccessDenied",
		"Access Denied: the object is private; only a signed request may read it.")
	errArchived = refuse(http.StatusForbidden, "InvalidObjectState",
		"The object is in an archive storage class and must be restored before it can be read.")
	// S3's answer to a read of an SSE-C object without its key (COS
	// documents SSE-C with the same headers under x-cos-).
	errCustomerKeyNeeded = refuse(http.StatusBadRequest, "InvalidRequest",
		"The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.")
)

// customerKeyHeader names the algorithm of a customer-provided key
// (SSE-C) in the protocol's prefix.
func (d *dialect) customerKeyHeader() string {
	return d.headerPrefix + "server-side-encryption-customer-algorithm"
}

// headerValues keys the first value of each header by its lower-cased name.
func headerValues(h http.Header) map[string]string {
	m := make(map[string]string, len(h))
	for name, vs := range h {
		if len(vs) > 0 {
			m[strings.ToLower(name)] = vs[0]
		}
	}
	return m
}

// readObjectAttrs reads the attributes of a write from values, keyed by
// lower-cased header or form field name; aclField names the ACL (x-cos-acl in
// a header, acl in a form). Whatever else values hold is not stored.
func (d *dialect) readObjectAttrs(values map[string]string, aclField string) (objectAttrs, error) {
	a := objectAttrs{contentType: values["content-type"], cacheControl: values["cache-control"]}
	if a.contentType == "" {
		a.contentType = defaultContentType
	}
	metaBytes := 0
	for name, value := range values {
		switch {
		case name == "content-type", name == "cache-control", name == d.metaPrefix:
			continue // the first two are read above
		case !d.storedHeader(name):
			continue
		case strings.HasPrefix(name, d.metaPrefix):
			metaBytes += len(name) - len(d.metaPrefix) + len(value)
		}
		if a.headers == nil {
			a.headers = make(map[string]string)
		}
		a.headers[http.CanonicalHeaderKey(name)] = value
	}
	if metaBytes > d.maxUserMetaBytes {
		return objectAttrs{}, refuse(http.StatusBadRequest, "MetadataTooLarge",
			fmt.Sprintf("Your metadata headers exceed the maximum allowed metadata size of %d bytes.", d.maxUserMetaBytes))
	}
	stored, ok := d.acl.values[values[aclField]]
	if !ok {
		return objectAttrs{}, refuse(http.StatusBadRequest, "InvalidArgument", aclField+" "+d.acl.invalid)
	}
	a.acl = stored
	a.customerKey = values[d.customerKeyHeader()] != ""
	switch class := values[d.storageClassHeader]; {
	case class == "", class == d.classes.standard:
	case d.classes.named(class):
		a.storageClass = class
	default:
		return objectAttrs{}, refuse(http.StatusBadRequest, d.classes.invalidCode,
			"The storage class you specified is not valid.")
	}
	return a, nil
}

// dropContentCoding removes coding from the stored Content-Encoding: S3
// stores an aws-chunked upload "without the aws-chunked value in the
// content-encoding header" (sigv4-streaming), since it describes the
// transfer, not the object.
func (a *objectAttrs) dropContentCoding(coding string) {
	const name = "Content-Encoding"
	var kept []string
	for token := range strings.SplitSeq(a.headers[name], ",") {
		if token = strings.TrimSpace(token); token != "" && !strings.EqualFold(token, coding) {
			kept = append(kept, token)
		}
	}
	if len(kept) == 0 {
		delete(a.headers, name)
		return
	}
	a.headers[name] = strings.Join(kept, ",")
}

func errEntityTooLarge(maxBytes int64) error {
	return refuse(http.StatusBadRequest, "EntityTooLarge",
		fmt.Sprintf("Your proposed upload exceeds the maximum allowed size of %d bytes.", maxBytes))
}

// clientBody remembers its own read errors, so that a client that goes away
// or sends a short body (400) is told apart from a failing disk (500), and
// stops reading once the request's context is done.
type clientBody struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		b.err = err
		return 0, err
	}
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

// Responses.

var errInternal = &codedError{status: http.StatusInternalServerError, code: "InternalError",
	message: "We encountered an internal error. Please try again."}

// logMethod is the request method as logged: one of the methods served,
// or "other". Go's server takes any token as a method, of any length.
func logMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// logPath is the request path as logged, cut to the longest key any
// protocol allows and a bucket segment, so that no client can make a log line
// as long as it likes.
func logPath(p string) string {
	if len(p) <= maxLoggedPathBytes {
		return p
	}
	return strings.ToValidUTF8(p[:maxLoggedPathBytes], "") + "…"
}

// writeError sends err as the protocol's error document. Anything that is
// not a refusal is an internal error: its cause is logged, never sent.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, requestID string, err error) {
	ce, ok := asCodedError(err)
	level := slog.LevelInfo
	if !ok {
		ce, level = errInternal, slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("protocol", string(s.d.protocol)), slog.String("method", logMethod(r.Method)), slog.String("path", logPath(r.URL.Path)),
		slog.Int("status", ce.status), slog.String("code", ce.code),
		slog.String("message", ce.message), slog.String("request_id", requestID),
	}
	if !ok {
		attrs = append(attrs, slog.String("error", err.Error()))
	} else if ce.cause != nil {
		attrs = append(attrs, slog.String("cause", ce.cause.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "local object server refused a request", attrs...)

	body := s.d.errorBody(ce, r, requestID)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if s.d.errorHeaders != nil {
		s.d.errorHeaders(h, ce, body, r)
	}
	w.WriteHeader(ce.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // nothing more can be told to a client that is gone
	}
}

// statusRecorder keeps the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
