package localcos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file is the server's own reading of AWS Signature Version 4 as S3
// documents it, written from AWS's pages, never from minio-go or the
// production signer in package storage/s3:
//
//   - "Signature Calculations for the Authorization Header: Transferring
//     Payload in a Single Chunk" (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html)
//   - "Authenticating Requests: Using Query Parameters" (…/sigv4-query-string-auth.html)
//   - "Authenticating Requests: Browser-Based Uploads Using POST" and "POST
//     Policy" (…/sigv4-authentication-HTTPPOST.html, …/sigv4-HTTPPOSTConstructPolicy.html)
//   - "Signature Calculations for the Authorization Header: Transferring
//     Payload in Multiple Chunks" (…/sigv4-streaming.html), in s3_chunked.go
//
//	CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n
//	                   CanonicalHeaders \n SignedHeaders \n HashedPayload
//	StringToSign     = "AWS4-HMAC-SHA256" \n <x-amz-date> \n <date>/<region>/s3/aws4_request \n
//	                   hex(SHA256(CanonicalRequest))
//	SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, <date>), <region>), "s3"), "aws4_request")
//	Signature        = hex(HMAC(SigningKey, StringToSign))
//
// and for a POST form, StringToSign is the base64 policy text as sent.
// Checked against AWS's worked examples and the SigV4 test suite
// (testdata/s3-vectors.md).

const (
	sigV4Algorithm    = "AWS4-HMAC-SHA256"
	sigV4Terminator   = "aws4_request"
	unsignedPayload   = "UNSIGNED-PAYLOAD"
	streamingPayload  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	iso8601Basic      = "20060102T150405Z"
	maxPresignSeconds = 604800 // a week: X-Amz-Expires "must be less than a week (in seconds)"
	// maxClockSkew is how far a request's x-amz-date may be from the
	// server's clock: S3 answers RequestTimeTooSkewed past 15 minutes.
	maxClockSkew = 15 * time.Minute
	// maxVerifiedBodyBytes bounds the body hashed up front for a request
	// that stores nothing (a GET or DELETE sending a body and its hash).
	maxVerifiedBodyBytes = 1 << 20
)

var emptySHA256 = sha256.Sum256(nil)

var errContentSHA256Mismatch = refuse(http.StatusBadRequest, "XAmzContentSHA256Mismatch",
	"The provided 'x-amz-content-sha256' header does not match what was computed.")

// sigV4Verifier checks SigV4 signatures against the accepted keys, several
// at once while they rotate.
type sigV4Verifier struct {
	credentials func() []Key
	now         func() time.Time
	region      string // the region every credential scope must name
	// service is "s3"; the AWS SigV4 test suite signs for "service",
	// whose requests carry no x-amz-content-sha256.
	service string
}

var _ requestAuth = sigV4Verifier{}

// sigV4Scope is a credential: <access key>/<date>/<region>/<service>/aws4_request.
type sigV4Scope struct{ accessKey, date, region, service string }

func (c sigV4Scope) String() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + sigV4Terminator
}

// Refusals. The messages are S3's where S3 documents one; none carries a
// signature, a secret or a token.
func errSigV4Mismatch(why string) error {
	return refuse(http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method. ("+why+")")
}

func errAuthHeaderMalformed(why string) error {
	return refuse(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; "+why+".")
}

func errAuthQueryMalformed(why string) error {
	return refuse(http.StatusBadRequest, "AuthorizationQueryParametersError", why+".")
}

func errPostArgument(why string) error {
	return refuse(http.StatusBadRequest, "InvalidArgument", why+".")
}

var (
	errSigV4Unsupported = refuse(http.StatusBadRequest, "InvalidRequest",
		"The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	errS3UnknownKey = refuse(http.StatusForbidden, "InvalidAccessKeyId",
		"The AWS Access Key Id you provided does not exist in our records.")
	errS3NoDate = refuse(http.StatusForbidden, "AccessDenied",
		"AWS authentication requires a valid Date or x-amz-date header.")
	errS3Skewed = refuse(http.StatusForbidden, "RequestTimeTooSkewed",
		"The difference between the request time and the current time is too large.")
	errS3Expired  = refuse(http.StatusForbidden, "AccessDenied", "Request has expired.")
	errS3Early    = refuse(http.StatusForbidden, "AccessDenied", "Request is not valid yet.")
	errS3NoToken  = refuse(http.StatusForbidden, "AccessDenied", "The key is temporary: the request must carry its x-amz-security-token.")
	errS3BadToken = refuse(http.StatusBadRequest, "InvalidToken", "The provided token is malformed or otherwise invalid.")
	errS3TwoAuths = refuse(http.StatusBadRequest, "InvalidArgument",
		"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
)

// clip quotes a value the client chose for a refusal, cut short.
func clip(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "..."
	}
	return strconv.Quote(s)
}

// signed reports whether r carries a signature in any form S3 reads,
// SigV2 included (refused as unsupported rather than served anonymously).
func (v sigV4Verifier) signed(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	return queryHasKey(r, "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "AWSAccessKeyId", "Signature")
}

// verifyRequest checks the Authorization header or, without one, the
// presigned query.
func (v sigV4Verifier) verifyRequest(r *http.Request) (verifiedRequest, error) {
	q := requestQuery(r)
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature")
	auth := r.Header.Get("Authorization")
	switch {
	case auth != "" && presigned:
		return verifiedRequest{}, errS3TwoAuths
	case auth != "":
		return v.verifyHeader(r, q, auth)
	case presigned:
		return v.verifyPresigned(r, q)
	case q.Has("AWSAccessKeyId") || q.Has("Signature"):
		return verifiedRequest{}, errSigV4Unsupported
	}
	return verifiedRequest{}, errNotSigned
}

// verifyHeader checks "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…" with x-amz-date and x-amz-content-sha256.
func (v sigV4Verifier) verifyHeader(r *http.Request, q url.Values, auth string) (verifiedRequest, error) {
	rest, ok := strings.CutPrefix(auth, sigV4Algorithm+" ")
	if !ok {
		return verifiedRequest{}, errSigV4Unsupported
	}
	parts := make(map[string]string, 3)
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if _, dup := parts[k]; !ok || dup {
			return verifiedRequest{}, errAuthHeaderMalformed("expected Credential=…, SignedHeaders=…, Signature=…")
		}
		parts[k] = val
	}
	for _, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if parts[name] == "" {
			return verifiedRequest{}, errAuthHeaderMalformed("it lacks " + name)
		}
	}
	scope, err := v.parseScope(parts["Credential"], errAuthHeaderMalformed)
	if err != nil {
		return verifiedRequest{}, err
	}
	signedHeaders, err := parseSignedHeaders(parts["SignedHeaders"], errAuthHeaderMalformed)
	if err != nil {
		return verifiedRequest{}, err
	}
	cred, err := v.credentialFor(scope.accessKey)
	if err != nil {
		return verifiedRequest{}, err
	}
	timestamp := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(iso8601Basic, timestamp)
	if err != nil {
		return verifiedRequest{}, errS3NoDate
	}
	if timestamp[:8] != scope.date {
		return verifiedRequest{}, errAuthHeaderMalformed("Invalid credential date. Date is not the same as X-Amz-Date")
	}
	if d := v.now().Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return verifiedRequest{}, errS3Skewed
	}
	payload, err := v.payloadHash(r)
	if err != nil {
		return verifiedRequest{}, err
	}
	canonical, err := canonicalRequest(r, q, signedHeaders, payload, false)
	if err != nil {
		return verifiedRequest{}, err
	}
	key := signingKey4(cred.SecretKey, scope)
	if !sigV4Matches(key, timestamp, scope, canonical, parts["Signature"]) {
		return verifiedRequest{}, errSigV4Mismatch("it does not match the request")
	}
	if err := checkSessionToken(cred, r.Header.Get("X-Amz-Security-Token")); err != nil {
		return verifiedRequest{}, err
	}
	vr := verifiedRequest{covers: coversList(signedHeaders), body: r.Body, decodedLength: -1}
	switch payload {
	case unsignedPayload:
	case streamingPayload:
		n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return verifiedRequest{}, refuse(http.StatusLengthRequired, "MissingContentLength",
				"An aws-chunked upload must carry x-amz-decoded-content-length.")
		}
		vr.decodedLength = n
		vr.contentCoding = "aws-chunked"
		vr.body = newAWSChunkedReader(r.Body, key, timestamp, scope, parts["Signature"], n)
	default:
		want, _ := hex.DecodeString(payload)
		if r.Method == http.MethodPut {
			vr.sha256 = want // held against the bytes as they are stored
			break
		}
		if err := checkBodySHA256(r, want, errContentSHA256Mismatch); err != nil {
			return verifiedRequest{}, err
		}
	}
	return vr, nil
}

// payloadHash is x-amz-content-sha256, which S3 requires of every
// header-signed request: a hex SHA-256 of the body, UNSIGNED-PAYLOAD, or
// the aws-chunked streaming signature.
func (v sigV4Verifier) payloadHash(r *http.Request) (string, error) {
	h := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case h == "" && v.service != "s3":
		// Other services sign the body's hash without sending it.
		return hex.EncodeToString(emptySHA256[:]), nil
	case h == "":
		return "", refuse(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256.")
	case h == unsignedPayload, h == streamingPayload:
		return h, nil
	case strings.HasPrefix(h, "STREAMING-"):
		return "", refuse(http.StatusNotImplemented, "NotImplemented",
			"The local object server decodes aws-chunked bodies signed with STREAMING-AWS4-HMAC-SHA256-PAYLOAD only, not "+clip(h)+".")
	case len(h) == 2*sha256.Size && strings.ToLower(h) == h && isHex(h):
		return h, nil
	}
	return "", refuse(http.StatusBadRequest, "InvalidArgument",
		"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.")
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// checkBodySHA256 holds the body of a request that stores nothing to the
// hash its signature covers; mismatch is the protocol's refusal.
func checkBodySHA256(r *http.Request, want []byte, mismatch error) error {
	body := []byte{}
	if r.Body != nil && r.ContentLength != 0 {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxVerifiedBodyBytes+1))
		if err != nil {
			return &codedError{status: http.StatusBadRequest, code: "IncompleteBody",
				message: "The request body ended before it was whole.", cause: err}
		}
		if len(b) > maxVerifiedBodyBytes {
			return refuse(http.StatusBadRequest, "InvalidRequest", "This request takes no body.")
		}
		body = b
	}
	if sum := sha256.Sum256(body); !hmac.Equal(sum[:], want) {
		return mismatch
	}
	return nil
}

// verifyPresigned checks the X-Amz-* query parameters of a presigned URL,
// whose payload is UNSIGNED-PAYLOAD.
func (v sigV4Verifier) verifyPresigned(r *http.Request, q url.Values) (verifiedRequest, error) {
	names := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"}
	p := make(map[string]string, len(names))
	for _, name := range names {
		if len(q[name]) != 1 || q[name][0] == "" {
			return verifiedRequest{}, errAuthQueryMalformed("Query-string authentication version 4 requires the X-Amz-Algorithm, " +
				"X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters, once each")
		}
		p[name] = q[name][0]
	}
	if p["X-Amz-Algorithm"] != sigV4Algorithm {
		return verifiedRequest{}, errAuthQueryMalformed(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	scope, err := v.parseScope(p["X-Amz-Credential"], errAuthQueryMalformed)
	if err != nil {
		return verifiedRequest{}, err
	}
	signedHeaders, err := parseSignedHeaders(p["X-Amz-SignedHeaders"], errAuthQueryMalformed)
	if err != nil {
		return verifiedRequest{}, err
	}
	cred, err := v.credentialFor(scope.accessKey)
	if err != nil {
		return verifiedRequest{}, err
	}
	timestamp := p["X-Amz-Date"]
	t, err := time.Parse(iso8601Basic, timestamp)
	if err != nil {
		return verifiedRequest{}, errAuthQueryMalformed(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	if timestamp[:8] != scope.date {
		return verifiedRequest{}, errAuthQueryMalformed("Invalid credential date. Date is not the same as X-Amz-Date")
	}
	expires, err := strconv.Atoi(p["X-Amz-Expires"])
	switch {
	case err != nil || expires < 1:
		return verifiedRequest{}, errAuthQueryMalformed("X-Amz-Expires must be a whole number of seconds from 1")
	case expires > maxPresignSeconds:
		return verifiedRequest{}, errAuthQueryMalformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	now := v.now()
	if t.Sub(now) > maxClockSkew {
		return verifiedRequest{}, errS3Early
	}
	if now.After(t.Add(time.Duration(expires) * time.Second)) {
		return verifiedRequest{}, errS3Expired
	}
	canonical, err := canonicalRequest(r, q, signedHeaders, unsignedPayload, true)
	if err != nil {
		return verifiedRequest{}, err
	}
	if !sigV4Matches(signingKey4(cred.SecretKey, scope), timestamp, scope, canonical, p["X-Amz-Signature"]) {
		return verifiedRequest{}, errSigV4Mismatch("it does not match the request")
	}
	tokens := q["X-Amz-Security-Token"]
	if len(tokens) > 1 {
		return verifiedRequest{}, errS3BadToken
	}
	if err := checkSessionToken(cred, strings.Join(tokens, "")); err != nil {
		return verifiedRequest{}, err
	}
	return verifiedRequest{covers: coversList(signedHeaders), body: r.Body, decodedLength: -1}, nil
}

// parseScope reads a credential and holds it to this server's region and
// service.
func (v sigV4Verifier) parseScope(credential string, malformed func(string) error) (sigV4Scope, error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != sigV4Terminator {
		return sigV4Scope{}, malformed("the Credential must be <access key>/<yyyymmdd>/<region>/" + v.service + "/aws4_request")
	}
	scope := sigV4Scope{accessKey: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	if _, err := time.Parse("20060102", scope.date); err != nil {
		return sigV4Scope{}, malformed("the Credential's date " + clip(scope.date) + " is not yyyymmdd")
	}
	if scope.region != v.region {
		return sigV4Scope{}, malformed("the region " + clip(scope.region) + " is wrong; expecting " + strconv.Quote(v.region))
	}
	if scope.service != v.service {
		return sigV4Scope{}, malformed("the Credential's service " + clip(scope.service) + " is wrong; expecting " + strconv.Quote(v.service))
	}
	return scope, nil
}

// parseSignedHeaders reads "host;x-amz-date;…": lower-case names, which
// must include host, as SigV4 requires.
func parseSignedHeaders(list string, malformed func(string) error) ([]string, error) {
	names := strings.Split(list, ";")
	for _, name := range names {
		if name == "" || strings.ToLower(name) != name {
			return nil, malformed("SignedHeaders must be lower-case header names separated by ';'")
		}
	}
	if !slices.Contains(names, "host") {
		return nil, malformed("SignedHeaders must include host")
	}
	return names, nil
}

func coversList(names []string) func(string) bool {
	return func(name string) bool { return slices.Contains(names, name) }
}

// credentialFor finds the accepted key with this access key id.
func (v sigV4Verifier) credentialFor(accessKey string) (Key, error) {
	for _, c := range v.credentials() {
		if c.SecretID == accessKey {
			return c, nil
		}
	}
	return Key{}, errS3UnknownKey
}

// checkSessionToken: a temporary key must come with its token, and a token
// is never paired with a key it was not issued for.
func checkSessionToken(cred Key, token string) error {
	switch {
	case cred.SessionToken == "" && token == "":
		return nil
	case token == "":
		return errS3NoToken
	case !hmac.Equal([]byte(cred.SessionToken), []byte(token)):
		return errS3BadToken
	}
	return nil
}

// canonicalRequest renders the request as SigV4 signs it, over the signed
// headers with the values this request actually carries; a signed header
// the request lacks cannot match. presigned leaves X-Amz-Signature out of
// the query.
func canonicalRequest(r *http.Request, q url.Values, signedHeaders []string, payload string, presigned bool) (string, error) {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(canonicalURI(r.URL.EscapedPath()) + "\n")
	b.WriteString(canonicalQuery(q, presigned) + "\n")
	for _, name := range signedHeaders {
		sent := r.Header.Values(name)
		if name == "host" {
			// The server moves Host out of the header map into r.Host.
			sent = []string{r.Host}
		}
		if len(sent) == 0 {
			return "", errSigV4Mismatch("the signed header " + clip(name) + " is absent from the request")
		}
		values := make([]string, len(sent)) // the request's own stay as sent
		for i, v := range sent {
			values[i] = trimAll(v)
		}
		b.WriteString(name + ":" + strings.Join(values, ",") + "\n")
	}
	b.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n" + payload)
	return b.String(), nil
}

// canonicalURI is the path with each segment URI-encoded once, '/' kept:
// S3 neither normalizes the path nor encodes it twice, as other services
// do. Each segment is decoded from the path as sent, so an encoded '/'
// (%2F) in a key stays encoded.
func canonicalURI(escaped string) string {
	if escaped == "" {
		return "/"
	}
	segments := strings.Split(escaped, "/")
	for i, seg := range segments {
		if dec, err := url.PathUnescape(seg); err == nil {
			seg = dec
		}
		segments[i] = uriEncode(seg)
	}
	return strings.Join(segments, "/")
}

// canonicalQuery sorts the parameters by encoded name, then value; a
// parameter without a value is "name=".
func canonicalQuery(q url.Values, presigned bool) string {
	var pairs []string
	for name, values := range q {
		if presigned && name == "X-Amz-Signature" {
			continue
		}
		for _, v := range values {
			pairs = append(pairs, uriEncode(name)+"="+uriEncode(v))
		}
	}
	// "=" sorts before every character uriEncode leaves, so sorting the
	// pairs sorts by name, then by value.
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// trimAll trims a header value and collapses runs of spaces to one.
func trimAll(v string) string {
	return strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// signingKey4 is HMAC("AWS4" + secret, date) chained through the region,
// the service and "aws4_request".
func signingKey4(secret string, scope sigV4Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), scope.date)
	k = hmacSHA256(k, scope.region)
	k = hmacSHA256(k, scope.service)
	return hmacSHA256(k, sigV4Terminator)
}

func stringToSign4(timestamp string, scope sigV4Scope, canonical string) string {
	return sigV4Algorithm + "\n" + timestamp + "\n" + scope.String() + "\n" + hexSHA256(canonical)
}

// sigV4Matches compares in constant time so the signature cannot be
// guessed byte by byte.
func sigV4Matches(key []byte, timestamp string, scope sigV4Scope, canonical, got string) bool {
	want := hex.EncodeToString(hmacSHA256(key, stringToSign4(timestamp, scope, canonical)))
	return hmac.Equal([]byte(want), []byte(got))
}

// POST (browser-based upload).

// verifyPostForm checks an S3 POST form as "Authenticating Requests:
// Browser-Based Uploads Using POST" says: x-amz-signature is the hex
// HMAC-SHA256, under the signing key of x-amz-credential's scope, of the
// policy field as sent (base64); x-amz-date is the date the key was made
// for; the policy has not expired; every condition holds; and every field
// but x-amz-signature, policy, file and x-ignore-* is named by a condition.
func (v sigV4Verifier) verifyPostForm(fields map[string]string, key, bucket string) (sizeRange, error) {
	encoded, ok := fields["policy"]
	if !ok {
		return sizeRange{}, errNotSigned
	}
	if _, ok := fields["x-amz-algorithm"]; !ok && (fields["awsaccesskeyid"] != "" || fields["signature"] != "") {
		return sizeRange{}, errSigV4Unsupported
	}
	for _, name := range []string{"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		if fields[name] == "" {
			return sizeRange{}, errPostArgument("Bucket POST must contain a field named '" + name + "'")
		}
	}
	if fields["x-amz-algorithm"] != sigV4Algorithm {
		return sizeRange{}, errPostArgument(`x-amz-algorithm must be "AWS4-HMAC-SHA256"`)
	}
	scope, err := v.parseScope(fields["x-amz-credential"], errPostArgument)
	if err != nil {
		return sizeRange{}, err
	}
	cred, err := v.credentialFor(scope.accessKey)
	if err != nil {
		return sizeRange{}, err
	}
	timestamp := fields["x-amz-date"]
	if _, err := time.Parse(iso8601Basic, timestamp); err != nil || timestamp[:8] != scope.date {
		return sizeRange{}, errPostArgument("x-amz-date must be an ISO8601 basic time on the x-amz-credential's date")
	}
	want := hex.EncodeToString(hmacSHA256(signingKey4(cred.SecretKey, scope), encoded))
	if !hmac.Equal([]byte(want), []byte(fields["x-amz-signature"])) {
		return sizeRange{}, errSigV4Mismatch("it does not match the policy")
	}
	if err := checkSessionToken(cred, fields["x-amz-security-token"]); err != nil {
		return sizeRange{}, err
	}
	policy, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return sizeRange{}, errPolicyDocument("the policy field is not base64")
	}
	expiration, conditions, err := parsePostPolicy(policy)
	if err != nil {
		return sizeRange{}, err
	}
	if !v.now().Before(expiration) {
		return sizeRange{}, errPolicyFailed("Policy expired")
	}
	lookup := func(field string) (string, bool) {
		switch field {
		case "bucket":
			// The bucket is the one addressed, whatever the form says.
			return bucket, true
		case "key":
			return key, true
		}
		v, ok := fields[field]
		return v, ok
	}
	return checkPostConditionsWith(conditions, fields, lookup, isS3PostExemptField)
}

// isS3PostExemptField: "Each form field that you specify in a form (except
// x-amz-signature, file, policy, and field names that have an x-ignore-
// prefix) must appear in the list of conditions" (POST Policy).
func isS3PostExemptField(name string) bool {
	return name == "x-amz-signature" || name == "policy" || strings.HasPrefix(name, "x-ignore-")
}
