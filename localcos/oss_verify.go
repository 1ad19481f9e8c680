package localcos

import (
	"crypto/hmac"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file decides whether a request to the local object server, speaking
// Aliyun OSS's protocol, carries a valid V4 signature: in its Authorization
// header or in its query (a presigned URL). oss_protocol.go holds the
// signing steps; oss_post.go the PostObject form. Refusals are OSS's codes
// and HTTP statuses, as codedError, so that the server answers with them.

// ossVerifier checks OSS V4 signatures for one bucket in one region against
// the accepted keys; several keys may be valid at once while they rotate.
type ossVerifier struct {
	credentials func() []Key
	now         func() time.Time
	bucket      string
	region      string // e.g. cn-hangzhou, as it appears in the credential scope
}

// ossAuth is what a verified request signed. The server acts on it:
//   - payloadHash, when not empty, is the hex SHA-256 the request claims for
//     its body (x-oss-content-sha256); the server must hash the body while
//     storing it and refuse the write when they differ.
//   - signedHeaders are the headers the signature covers, with the values the
//     request carries; checkOSSStoredHeadersSigned refuses a presigned write
//     carrying a header it would store that the signature leaves free.
type ossAuth struct {
	accessKeyID string
	presigned   bool   // signed in the query rather than the Authorization header
	bucket      string // "" for a request on the service (GET /)
	object      string // "" for a request on the bucket
	// signedHeaders are the lower-cased names of the canonical headers,
	// sorted: the default-signed ones the request carries and the
	// additional ones.
	signedHeaders []string
	// additionalHeaders is the AdditionalHeaders / x-oss-additional-headers
	// list as signed.
	additionalHeaders []string
	// signedParams are the query parameters the signature covers: all of
	// them, but x-oss-signature in a presigned URL.
	signedParams []string
	payloadHash  string    // "" for UNSIGNED-PAYLOAD
	signedAt     time.Time // x-oss-date
	expires      time.Time // presigned only: x-oss-date + x-oss-expires
}

// signs reports whether the signature covers the header (lower-cased name).
func (a ossAuth) signs(header string) bool {
	_, ok := slices.BinarySearch(a.signedHeaders, header)
	return ok
}

// OSS's refusals. A malformed V4 field is 400 InvalidArgument, as OSS
// answers its 0002-0000021x family ("The signing region in credential is
// invalid", EC 0002-00000715, is documented with that code); a well-formed
// signature that does not match is 403 SignatureDoesNotMatch. Messages say
// what is wrong and never quote a signature, a secret or a token.
func ossErrArgument(why string) error {
	return refuse(http.StatusBadRequest, "InvalidArgument", why)
}

var (
	ossErrNotSigned = refuse(http.StatusForbidden, "AccessDenied",
		"Anonymous access is forbidden for this operation.")
	ossErrSignature = refuse(http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	ossErrUnknownKey = refuse(http.StatusForbidden, "InvalidAccessKeyId",
		"The OSS Access Key Id you provided does not exist in our records.")
	ossErrSkewed = refuse(http.StatusForbidden, "RequestTimeTooSkewed",
		"The difference between the request time and the current time is too large.")
	ossErrExpired = refuse(http.StatusForbidden, "AccessDenied", "Request has expired.")
	// InvalidSecurityToken is the code OSS clients (ossutil's and VOD's
	// upload error mappings) expect for a token that is missing, wrong or
	// not the key's (EC 0002-00000003/6/8).
	ossErrToken = refuse(http.StatusForbidden, "InvalidSecurityToken",
		"The security token you provided is invalid.")
	ossErrNoSuchBucket = refuse(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
	ossErrRegion       = ossErrArgument("The signing region in credential is invalid.")
)

const (
	// "Request time ... within 15 minutes": the header signature's x-oss-date
	// may differ from the server's clock by this much either way, and a
	// presigned URL or a form may be dated this much in the future.
	ossMaxSkew = 15 * time.Minute
	// x-oss-expires: 1 to 604800 seconds (7 days) with an AccessKey pair, 1
	// to 43200 (12 hours) with STS credentials ("V4 signatures in presigned
	// URLs", query parameters).
	ossMaxExpires    = 7 * 24 * time.Hour
	ossMaxExpiresSTS = 12 * time.Hour

	ossTokenField = "x-oss-security-token"
)

// hasOSSSignature reports whether r carries a V4 signature at all: a public
// GET need not be signed, but one that is must verify.
func hasOSSSignature(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	return queryHasKey(r, "x-oss-signature", "x-oss-credential", "x-oss-signature-version")
}

// verifyRequest checks the V4 signature of r, from its Authorization header
// or its presigned query, and returns what it signed. A request for another
// bucket is NoSuchBucket before any signature is read, as OSS answers; one
// without a signature is AccessDenied.
func (v ossVerifier) verifyRequest(r *http.Request) (ossAuth, error) {
	bucket, object, err := v.resource(r)
	if err != nil {
		return ossAuth{}, err
	}
	if h := r.Header.Get("Authorization"); h != "" {
		return v.verifyHeader(r, h, bucket, object)
	}
	pairs, err := ossQueryPairs(r.URL.RawQuery)
	if err != nil {
		return ossAuth{}, err
	}
	for _, p := range pairs {
		switch p.key {
		case "x-oss-signature", "x-oss-credential", "x-oss-signature-version":
			return v.verifyQuery(r, pairs, bucket, object)
		}
	}
	return ossAuth{}, ossErrNotSigned
}

// resource is the bucket and object r addresses: the bucket is the first
// label of the host name (virtual-hosted style, bucket.oss-cn-hangzhou...)
// or else the first path segment (path style, as Aliyun's SDK addresses an
// endpoint that is an IP address, such as this server's 127.0.0.1:port).
func (v ossVerifier) resource(r *http.Request) (bucket, object string, err error) {
	path, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok {
		return "", "", refuse(http.StatusBadRequest, "InvalidURI", "The request path does not start with '/'.")
	}
	if v.virtualHosted(r.Host) {
		return v.bucket, path, nil
	}
	if path == "" {
		return "", "", nil
	}
	bucket, object, _ = strings.Cut(path, "/")
	if bucket != v.bucket {
		return "", "", ossErrNoSuchBucket
	}
	return bucket, object, nil
}

// virtualHosted reports whether host (a Host header, with or without its
// port) names the bucket: its first label is the bucket's name. An IP
// address never does. The server routes by this same rule, so that the
// object a signature covers is the object served.
func (v ossVerifier) virtualHosted(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return net.ParseIP(host) == nil && strings.HasPrefix(strings.ToLower(host), v.bucket+".")
}

// ossCredential is a parsed <AccessKeyId>/<date>/<region>/oss/aliyun_v4_request.
type ossCredential struct {
	accessKeyID, date, region string
}

var ossDatePattern = regexp.MustCompile(`^[0-9]{8}$`)

// parseCredential reads a credential and holds its region to this server's:
// a signature scoped to another region is refused whatever its value
// (EC 0002-00000228, 0002-00000715).
func (v ossVerifier) parseCredential(s string) (ossCredential, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || parts[3] != ossService || parts[4] != ossRequestType {
		return ossCredential{}, ossErrArgument(
			"The credential must be <AccessKeyId>/<SignDate>/<Region>/oss/aliyun_v4_request.")
	}
	c := ossCredential{accessKeyID: parts[0], date: parts[1], region: parts[2]}
	if c.accessKeyID == "" {
		return ossCredential{}, ossErrArgument("The credential has an empty AccessKeyId.")
	}
	if _, err := time.Parse(ossDateFormat, c.date); err != nil || !ossDatePattern.MatchString(c.date) {
		return ossCredential{}, ossErrArgument("The SignDate in the credential is not YYYYMMDD.")
	}
	if c.region != v.region {
		return ossCredential{}, ossErrRegion
	}
	return c, nil
}

// keyFor finds the accepted key with this AccessKeyId.
func (v ossVerifier) keyFor(accessKeyID string) (Key, error) {
	for _, k := range v.credentials() {
		if k.SecretID == accessKeyID {
			return k, nil
		}
	}
	return Key{}, ossErrUnknownKey
}

// signedAt reads x-oss-date and holds the credential's date to its day:
// "the value must be the same day as the Date of the SigningKey".
func ossSignedAt(dateTime string, c ossCredential) (time.Time, error) {
	t, ok := ossParseDateTime(dateTime)
	if !ok {
		return time.Time{}, ossErrArgument("x-oss-date is not an ISO 8601 time such as 20231203T121212Z.")
	}
	if dateTime[:8] != c.date {
		return time.Time{}, ossErrArgument("The SignDate in the credential is not the day of x-oss-date.")
	}
	return t, nil
}

// ossParseAdditionalHeaders reads an AdditionalHeaders list. Present, it may
// not be empty (EC 0002-00000209) nor hold an empty name (0002-00000210);
// the names are lower-case and in ascending order, as the documents ask, so
// that the list is signed as sent.
func ossParseAdditionalHeaders(list string) ([]string, error) {
	if list == "" {
		return nil, ossErrArgument("AdditionalHeaders is empty; leave it out to add no header.")
	}
	names := strings.Split(list, ";")
	for i, name := range names {
		switch {
		case name == "":
			return nil, ossErrArgument("AdditionalHeaders holds an empty header name.")
		case name != strings.ToLower(name):
			return nil, ossErrArgument("AdditionalHeaders must be lower-case.")
		case i > 0 && names[i-1] >= name:
			return nil, ossErrArgument("AdditionalHeaders must be sorted and name each header once.")
		}
	}
	return names, nil
}

// verifyHeader checks "Authorization: OSS4-HMAC-SHA256
// Credential=<AK>/<date>/<region>/oss/aliyun_v4_request[,AdditionalHeaders=h1;h2],Signature=<hex>".
// The documents write ", " between the pairs and the SDKs ","; both are read.
func (v ossVerifier) verifyHeader(r *http.Request, authorization, bucket, object string) (ossAuth, error) {
	algorithm, rest, _ := strings.Cut(authorization, " ")
	if algorithm != ossAlgorithm {
		return ossAuth{}, ossErrArgument("Only OSS4-HMAC-SHA256 (V4) Authorization headers are accepted.")
	}
	fields := make(map[string]string, 3)
	for pair := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		switch {
		case !ok:
			return ossAuth{}, ossErrArgument("The Authorization header has a field without '='.")
		case k != "Credential" && k != "AdditionalHeaders" && k != "Signature":
			return ossAuth{}, ossErrArgument("The Authorization header has an unknown field.")
		}
		if _, dup := fields[k]; dup {
			return ossAuth{}, ossErrArgument("The Authorization header repeats " + k + ".")
		}
		fields[k] = val
	}
	credential, okCred := fields["Credential"]
	signature, okSig := fields["Signature"]
	if !okCred || !okSig {
		return ossAuth{}, ossErrArgument("The Authorization header needs Credential and Signature.")
	}
	cred, err := v.parseCredential(credential)
	if err != nil {
		return ossAuth{}, err
	}
	var additional []string
	if list, ok := fields["AdditionalHeaders"]; ok {
		if additional, err = ossParseAdditionalHeaders(list); err != nil {
			return ossAuth{}, err
		}
	}
	dateTime := r.Header.Get("x-oss-date")
	if dateTime == "" {
		return ossAuth{}, ossErrArgument("A V4 Authorization header needs the x-oss-date header.")
	}
	at, err := ossSignedAt(dateTime, cred)
	if err != nil {
		return ossAuth{}, err
	}
	if d := v.now().Sub(at); d > ossMaxSkew || d < -ossMaxSkew {
		return ossAuth{}, ossErrSkewed
	}
	// "x-oss-content-sha256: always required"; the documents support
	// UNSIGNED-PAYLOAD only today, a hex SHA-256 is accepted as a claim the
	// server checks against the body it stores.
	payload := r.Header.Get("x-oss-content-sha256")
	var payloadHash string
	switch {
	case payload == ossUnsignedBody:
	case ossIsLowerHex64(payload):
		payloadHash = payload
	case payload == "":
		return ossAuth{}, ossErrArgument("A V4 Authorization header needs the x-oss-content-sha256 header.")
	default:
		return ossAuth{}, ossErrArgument("x-oss-content-sha256 must be UNSIGNED-PAYLOAD or a lower-case hex SHA-256.")
	}
	key, err := v.keyFor(cred.accessKeyID)
	if err != nil {
		return ossAuth{}, err
	}
	pairs, err := ossQueryPairs(r.URL.RawQuery)
	if err != nil {
		return ossAuth{}, err
	}
	block, headerValues, missing := ossCanonicalHeaders(r, additional)
	if missing != "" {
		return ossAuth{}, ossErrArgument(fmt.Sprintf("AdditionalHeaders names %q, which the request does not carry.", missing))
	}
	canonical := ossCanonicalRequest(r.Method, ossCanonicalURI(bucket, object),
		ossCanonicalQuery(pairs), block, additional, payload)
	want := ossSignature(key.SecretKey, cred.date, cred.region,
		ossStringToSign(dateTime, ossScope(cred.date, cred.region), canonical))
	if !ossSignatureMatches(want, signature) {
		return ossAuth{}, ossErrSignature
	}
	if err := checkOSSToken(key, r.Header.Get(ossTokenField)); err != nil {
		return ossAuth{}, err
	}
	return ossAuth{
		accessKeyID:       cred.accessKeyID,
		bucket:            bucket,
		object:            object,
		signedHeaders:     slices.Sorted(maps.Keys(headerValues)),
		additionalHeaders: additional,
		signedParams:      ossPairKeys(pairs),
		payloadHash:       payloadHash,
		signedAt:          at,
	}, nil
}

// verifyQuery checks a presigned URL: x-oss-signature-version,
// x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature, each
// once, x-oss-additional-headers and x-oss-security-token when used. The
// URL is valid from 15 minutes before x-oss-date ("(x-oss-date − 15
// minutes) ≤ T ≤ (x-oss-date + x-oss-expires)") and its payload is always
// UNSIGNED-PAYLOAD.
func (v ossVerifier) verifyQuery(r *http.Request, pairs []ossQueryPair, bucket, object string) (ossAuth, error) {
	params := make(map[string]string, 7)
	for _, p := range pairs {
		switch p.key {
		case "x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-expires",
			"x-oss-signature", "x-oss-additional-headers", ossTokenField:
			if _, dup := params[p.key]; dup {
				return ossAuth{}, ossErrArgument("The presigned URL repeats " + p.key + ".")
			}
			params[p.key] = p.value
		}
	}
	for _, name := range []string{"x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-expires", "x-oss-signature"} {
		if params[name] == "" {
			return ossAuth{}, ossErrArgument("A V4 presigned URL needs a non-empty " + name + ".")
		}
	}
	if params["x-oss-signature-version"] != ossAlgorithm {
		return ossAuth{}, ossErrArgument("x-oss-signature-version must be OSS4-HMAC-SHA256.")
	}
	cred, err := v.parseCredential(params["x-oss-credential"])
	if err != nil {
		return ossAuth{}, err
	}
	dateTime := params["x-oss-date"]
	at, err := ossSignedAt(dateTime, cred)
	if err != nil {
		return ossAuth{}, err
	}
	token, hasToken := params[ossTokenField]
	if hasToken && r.Header.Get(ossTokenField) != "" {
		// EC 0002-00000010: one token, in the URL or in the header.
		return ossAuth{}, ossErrArgument("The security token is in both the URL and the x-oss-security-token header.")
	}
	seconds, err := strconv.ParseInt(params["x-oss-expires"], 10, 64)
	limit := ossMaxExpires
	if hasToken {
		limit = ossMaxExpiresSTS
	}
	if err != nil || seconds < 1 || time.Duration(seconds)*time.Second > limit {
		return ossAuth{}, ossErrArgument(fmt.Sprintf("x-oss-expires must be 1 to %d seconds.", int64(limit/time.Second)))
	}
	expires := at.Add(time.Duration(seconds) * time.Second)
	now := v.now()
	if now.Before(at.Add(-ossMaxSkew)) {
		return ossAuth{}, ossErrSkewed
	}
	if now.After(expires) {
		return ossAuth{}, ossErrExpired
	}
	var additional []string
	if list, ok := params["x-oss-additional-headers"]; ok {
		if additional, err = ossParseAdditionalHeaders(list); err != nil {
			return ossAuth{}, err
		}
	}
	key, err := v.keyFor(cred.accessKeyID)
	if err != nil {
		return ossAuth{}, err
	}
	signed := make([]ossQueryPair, 0, len(pairs))
	for _, p := range pairs {
		if p.key != "x-oss-signature" {
			signed = append(signed, p)
		}
	}
	block, headerValues, missing := ossCanonicalHeaders(r, additional)
	if missing != "" {
		return ossAuth{}, ossErrArgument(fmt.Sprintf("x-oss-additional-headers names %q, which the request does not carry.", missing))
	}
	// "If a query parameter key matches a header being signed but the
	// values differ, OSS returns an error."
	for _, p := range signed {
		if hv, ok := headerValues[p.key]; ok && hv != p.value {
			return ossAuth{}, ossErrArgument(fmt.Sprintf("The signed header %q and the query parameter of that name differ.", p.key))
		}
	}
	canonical := ossCanonicalRequest(r.Method, ossCanonicalURI(bucket, object),
		ossCanonicalQuery(signed), block, additional, ossUnsignedBody)
	want := ossSignature(key.SecretKey, cred.date, cred.region,
		ossStringToSign(dateTime, ossScope(cred.date, cred.region), canonical))
	if !ossSignatureMatches(want, params["x-oss-signature"]) {
		return ossAuth{}, ossErrSignature
	}
	if err := checkOSSToken(key, token); err != nil {
		return ossAuth{}, err
	}
	return ossAuth{
		accessKeyID:       cred.accessKeyID,
		presigned:         true,
		bucket:            bucket,
		object:            object,
		signedHeaders:     slices.Sorted(maps.Keys(headerValues)),
		additionalHeaders: additional,
		signedParams:      ossPairKeys(signed),
		signedAt:          at,
		expires:           expires,
	}, nil
}

// checkOSSToken enforces that temporary credentials come with their STS
// token, and that a token is never paired with a key it was not issued for.
func checkOSSToken(key Key, token string) error {
	if key.SessionToken == "" && token == "" {
		return nil
	}
	if !hmac.Equal([]byte(key.SessionToken), []byte(token)) {
		return ossErrToken
	}
	return nil
}

// ossQueryPairs splits a raw query on '&' and decodes each side as a form
// value, so '+' is a space: Aliyun's SDK encodes a space as %20 but reads a
// raw '+' as one (it replaces '+' by "%20" before signing). A pair that is
// not valid percent-encoding is refused rather than silently dropped, since
// it would otherwise fall out of the signed query.
func ossQueryPairs(raw string) ([]ossQueryPair, error) {
	var pairs []ossQueryPair
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		dk, errK := url.QueryUnescape(k)
		dv, errV := url.QueryUnescape(val)
		if errK != nil || errV != nil {
			return nil, refuse(http.StatusBadRequest, "InvalidURI", "The query string is not valid percent-encoding.")
		}
		pairs = append(pairs, ossQueryPair{dk, dv})
	}
	return pairs, nil
}

func ossPairKeys(pairs []ossQueryPair) []string {
	keys := make([]string, 0, len(pairs))
	for _, p := range pairs {
		keys = append(keys, p.key)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func ossIsLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ossStoredHeader reports whether a write's header (lower-cased name) ends
// up stored with the object or decides how much is stored: the headers OSS
// keeps and serves (Content-Type, Cache-Control, Content-Disposition,
// Content-Encoding, Content-Language, Expires), every x-oss-* header
// (x-oss-object-acl, x-oss-storage-class, x-oss-meta-*, ...) and the
// Content-Length.
func ossStoredHeader(name string) bool {
	switch name {
	case "content-type", "content-length", "cache-control", "content-disposition",
		"content-encoding", "content-language", "expires":
		return true
	}
	return strings.HasPrefix(name, "x-oss-")
}

// checkOSSStoredHeadersSigned refuses a presigned write carrying a header
// its signature does not cover that would be stored with the object or
// decide its size: whoever holds the URL could otherwise choose a year of
// Cache-Control or an object of any length. A presigned PUT must sign its
// Content-Length (as x-oss-additional-headers=content-length), since that
// is what binds the size the service allowed; one sent chunked, with no
// Content-Length at all, is refused as well.
//
// Content-Type, Content-MD5 and x-oss-* are signed whenever present, so a
// presigned URL can never be used with one it was not signed with: the
// signature would not match. The rest are signed only when named in
// x-oss-additional-headers, and OSS itself then accepts them unsigned; the
// refusal is S3's for a presigned request with unsigned x-amz-* headers,
// 403 AccessDenied "There were headers present in the request which were
// not signed". A header-signed request comes from a key holder, the service
// itself, and is not held to it.
func checkOSSStoredHeadersSigned(r *http.Request, auth ossAuth) error {
	if !auth.presigned {
		return nil
	}
	var unsigned []string
	for name := range r.Header {
		if lower := strings.ToLower(name); ossStoredHeader(lower) && !auth.signs(lower) {
			unsigned = append(unsigned, lower)
		}
	}
	if r.Method == http.MethodPut && !auth.signs("content-length") && !slices.Contains(unsigned, "content-length") {
		unsigned = append(unsigned, "content-length")
	}
	if len(unsigned) == 0 {
		return nil
	}
	slices.Sort(unsigned)
	return refuse(http.StatusForbidden, "AccessDenied",
		"There were headers present in the request which were not signed: "+strings.Join(unsigned, ", ")+".")
}
