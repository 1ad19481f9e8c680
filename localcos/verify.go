package localcos

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file decides whether a request may act on the local object server. It
// is written from Tencent's protocol text ("请求签名", "POST Object"), never
// from the SDK's signer, so that the SDK and our POST signer are each checked
// against an independent reading of the protocol.

// codedError is a refusal in COS's vocabulary: the HTTP status and error code
// a real bucket would answer with, and a message for the XML body.
type codedError struct {
	status  int
	code    string
	message string
	cause   error // logged, never sent
}

func (e *codedError) Error() string {
	return fmt.Sprintf("cos %d %s: %s", e.status, e.code, e.message)
}

func (e *codedError) Unwrap() error { return e.cause }

func refuse(status int, code, message string) error {
	return &codedError{status: status, code: code, message: message}
}

// The refusals every signature check shares. A malformed signature (a field
// missing, an algorithm other than sha1, a garbled time window, a signed
// header or parameter the request lacks) gets the same code as a wrong one,
// SignatureDoesNotMatch, since a client can do nothing different about it;
// the message says what is wrong for whoever debugs it. Only the time window,
// an unknown key and a missing or wrong token have codes of their own, as on
// COS.
func errSignature(why string) error {
	return refuse(http.StatusForbidden, "SignatureDoesNotMatch",
		"The Signature you specified is invalid: "+why+".")
}

var (
	errNotSigned = refuse(http.StatusForbidden, "AccessDenied",
		"Access Denied: this operation needs a signed request.")
	errUnknownKey = refuse(http.StatusForbidden, "InvalidAccessKeyId",
		"The SecretId you provided does not exist in our records.")
	errExpired = refuse(http.StatusForbidden, "AccessDenied", "Request has expired.")
	errEarly   = refuse(http.StatusForbidden, "AccessDenied", "Request is not yet valid (q-sign-time or q-key-time starts later).")
	errToken   = refuse(http.StatusForbidden, "AccessDenied",
		"The x-cos-security-token is missing or does not belong to this SecretId.")
)

// signatureVerifier checks COS v5 ("sha1") signatures against the accepted
// keys. Several keys may be valid at once while they rotate.
type signatureVerifier struct {
	credentials func() []Key
	now         func() time.Time
}

// signatureFields are the q-* fields of one signature, from the Authorization
// header or from the query string.
type signatureFields struct {
	algorithm  string
	ak         string
	signTime   string
	keyTime    string
	headerList []string
	paramList  []string
	signature  string
}

// The query parameter that carries the whole Authorization string when the
// SDK is asked for a "merged" presigned URL (PresignedURLOptions.SignMerged).
const mergedSignParam = "sign"

const securityTokenField = "x-cos-security-token"

// hasSignature reports whether r carries a signature at all, in any of the
// three places COS looks: a public GET need not be signed, but one that is
// must verify.
func hasSignature(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	return queryHasKey(r, "q-signature", mergedSignParam)
}

// queryHasKey reports whether the query names one of names, whatever the
// pair's value: a signature parameter whose value does not parse (a bad
// escape) still makes a signed request, to be refused as one, never an
// anonymous read. A key that does not unescape is compared as written.
func queryHasKey(r *http.Request, names ...string) bool {
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if u, err := url.QueryUnescape(k); err == nil {
			k = u
		}
		if slices.Contains(names, k) {
			return true
		}
	}
	return false
}

// requestQuery parses the query as COS does, splitting pairs on '&' only.
// URL.Query drops every pair holding a raw ';', and Tencent's JavaScript SDKs
// leave ';' raw in presigned URLs (q-sign-time=start;end, q-header-list=a;b).
// Pairs that are not valid percent-encoding are dropped, as URL.Query does.
func requestQuery(r *http.Request) url.Values {
	q := url.Values{}
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, errK := url.QueryUnescape(k)
		v, errV := url.QueryUnescape(v)
		if errK != nil || errV != nil {
			continue
		}
		q[k] = append(q[k], v)
	}
	return q
}

// verifyRequest checks the request signature of r, from its Authorization
// header or its presigned query, and returns what it verified. A request
// without one is AccessDenied.
func (v signatureVerifier) verifyRequest(r *http.Request) (signatureFields, error) {
	fields, err := requestSignatureFields(r)
	if err != nil {
		return signatureFields{}, err
	}
	if fields.algorithm != "sha1" {
		return signatureFields{}, errSignature("q-sign-algorithm must be sha1")
	}
	cred, err := v.credentialFor(fields.ak)
	if err != nil {
		return signatureFields{}, err
	}
	if err := v.checkWindow(fields.signTime, fields.keyTime); err != nil {
		return signatureFields{}, err
	}
	hs, err := httpString(r, fields)
	if err != nil {
		return signatureFields{}, err
	}
	stringToSign := "sha1\n" + fields.keyTime + "\n" + hexSHA1(hs) + "\n"
	if !signatureMatches(cred, fields.keyTime, stringToSign, fields.signature) {
		return signatureFields{}, errSignature("it does not match the request")
	}
	token := r.Header.Get(securityTokenField)
	if token == "" {
		token = requestQuery(r).Get(securityTokenField)
	}
	if err := checkToken(cred, token); err != nil {
		return signatureFields{}, err
	}
	return fields, nil
}

// requestSignatureFields finds the signature of r: the Authorization header
// first, then the SDK's merged "sign" parameter, then loose q-* parameters.
func requestSignatureFields(r *http.Request) (signatureFields, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		return parseAuthorization(auth)
	}
	q := requestQuery(r)
	if q.Has(mergedSignParam) {
		return parseAuthorization(q.Get(mergedSignParam))
	}
	if !q.Has("q-signature") {
		return signatureFields{}, errNotSigned
	}
	return signatureFieldsFrom(func(k string) (string, bool) {
		vs, ok := q[k]
		if !ok || len(vs) != 1 {
			return "", false
		}
		return vs[0], true
	})
}

// parseAuthorization reads "q-sign-algorithm=sha1&q-ak=…&…&q-signature=…".
// The values are not URL-encoded in this form.
func parseAuthorization(auth string) (signatureFields, error) {
	m := make(map[string]string, 7)
	for pair := range strings.SplitSeq(auth, "&") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return signatureFields{}, errSignature("the Authorization has a field without '='")
		}
		if _, dup := m[k]; dup {
			return signatureFields{}, errSignature("the Authorization repeats " + k)
		}
		m[k] = v
	}
	return signatureFieldsFrom(func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	})
}

func signatureFieldsFrom(get func(string) (string, bool)) (signatureFields, error) {
	v, err := requiredFields(get, "q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time",
		"q-header-list", "q-url-param-list", "q-signature")
	if err != nil {
		return signatureFields{}, err
	}
	return signatureFields{
		algorithm:  v[0],
		ak:         v[1],
		signTime:   v[2],
		keyTime:    v[3],
		headerList: signedNames(v[4]),
		paramList:  signedNames(v[5]),
		signature:  v[6],
	}, nil
}

// requiredFields returns the values of names, in order; a missing one makes
// the signature unusable.
func requiredFields(get func(string) (string, bool), names ...string) ([]string, error) {
	values := make([]string, len(names))
	for i, name := range names {
		v, ok := get(name)
		if !ok {
			return nil, errSignature(name + " is missing")
		}
		values[i] = v
	}
	return values, nil
}

// signedNames splits a q-header-list / q-url-param-list. The SDK lists a name
// once per value; the values are all taken from the request anyway, so
// duplicates are dropped.
func signedNames(list string) []string {
	if list == "" {
		return nil
	}
	names := strings.Split(strings.ToLower(list), ";")
	slices.Sort(names)
	return slices.Compact(names)
}

// credentialFor finds the accepted key with this SecretId.
func (v signatureVerifier) credentialFor(ak string) (Key, error) {
	if ak == "" {
		return Key{}, errSignature("q-ak is empty")
	}
	for _, c := range v.credentials() {
		if c.SecretID == ak {
			return c, nil
		}
	}
	return Key{}, errUnknownKey
}

// checkWindow refuses a request outside its q-sign-time or q-key-time window.
func (v signatureVerifier) checkWindow(windows ...string) error {
	now := v.now().Unix()
	for _, w := range windows {
		start, end, err := parseWindow(w)
		if err != nil {
			return err
		}
		if now < start {
			return errEarly
		}
		if now > end {
			return errExpired
		}
	}
	return nil
}

// parseWindow reads "start;end" in Unix seconds.
func parseWindow(w string) (start, end int64, err error) {
	a, b, ok := strings.Cut(w, ";")
	if ok {
		start, err = strconv.ParseInt(a, 10, 64)
	}
	if ok && err == nil {
		end, err = strconv.ParseInt(b, 10, 64)
	}
	if !ok || err != nil || start > end {
		return 0, 0, errSignature("a time window is not start;end in Unix seconds")
	}
	return start, end, nil
}

// httpString is lower(method)\n<decoded path>\n<params>\n<headers>\n over the
// parameters and headers the signature names, with the values this request
// actually carries.
func httpString(r *http.Request, f signatureFields) (string, error) {
	params, err := signedPairs(f.paramList, encodedValues(requestQuery(r)), "parameter")
	if err != nil {
		return "", err
	}
	header := encodedValues(url.Values(r.Header))
	// The server moves Host out of the header map into r.Host.
	header["host"] = []string{r.Host}
	headers, err := signedPairs(f.headerList, header, "header")
	if err != nil {
		return "", err
	}
	return strings.ToLower(r.Method) + "\n" + r.URL.Path + "\n" + params + "\n" + headers + "\n", nil
}

// encodedValues re-keys values by the signed form of their names:
// uriEncode'd, then lower-cased.
func encodedValues(values map[string][]string) map[string][]string {
	m := make(map[string][]string, len(values))
	for k, vs := range values {
		ek := strings.ToLower(uriEncode(k))
		m[ek] = append(m[ek], vs...)
	}
	return m
}

// signedPairs renders k=v pairs for the listed names, sorted by name then
// value; a listed name the request lacks cannot match.
func signedPairs(names []string, values map[string][]string, what string) (string, error) {
	var b strings.Builder
	for _, name := range names { // already sorted and unique
		vs, ok := values[name]
		if !ok {
			return "", errSignature(fmt.Sprintf("the signed %s %q is absent from the request", what, name))
		}
		encoded := make([]string, len(vs))
		for i, v := range vs {
			encoded[i] = uriEncode(v)
		}
		slices.Sort(encoded)
		for _, v := range encoded {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(name + "=" + v)
		}
	}
	return b.String(), nil
}

// signatureMatches compares in constant time so the signature cannot be
// guessed byte by byte.
func signatureMatches(cred Key, keyTime, stringToSign, got string) bool {
	want := hexHMACSHA1([]byte(signingKey(cred.SecretKey, keyTime)), stringToSign)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(got)))
}

// checkToken enforces that temporary credentials come with their STS token,
// and that a token is never paired with a key it was not issued for.
func checkToken(cred Key, token string) error {
	if cred.SessionToken == "" && token == "" {
		return nil
	}
	if !hmac.Equal([]byte(cred.SessionToken), []byte(token)) {
		return errToken
	}
	return nil
}

// POST Object (form upload).

// sizeRange is the object size, in bytes and inclusive, a POST policy allows.
type sizeRange struct{ min, max int64 }

// postFormCondition is one parsed condition of a POST policy. field is the
// lower-cased form field name without its "$".
type postFormCondition struct {
	op       string // "eq", "starts-with" or "content-length-range"
	field    string
	value    string
	min, max int64
}

func errPolicyDocument(why string) error {
	return refuse(http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: "+why+".")
}

func errPolicyFailed(why string) error {
	return refuse(http.StatusForbidden, "AccessDenied", "Invalid according to Policy: "+why+".")
}

// verifyPostForm checks a POST Object form as COS does: the signature over
// the policy text, the key's time window, the STS token, the policy's
// expiration and each of its conditions. fields are keyed by lower-cased
// field name; key is the object key after ${filename} substitution, which is
// what the policy's $key conditions are held against (the stored key is what
// the policy author means to constrain). It returns the size range the
// policy allows; the caller enforces it while streaming the file.
func (v signatureVerifier) verifyPostForm(fields map[string]string, key, bucket string) (sizeRange, error) {
	encoded, ok := fields["policy"]
	if !ok {
		return sizeRange{}, errNotSigned
	}
	policy, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return sizeRange{}, errPolicyDocument("the policy field is not base64")
	}
	sig, err := requiredFields(func(k string) (string, bool) {
		val, ok := fields[k]
		return val, ok
	}, "q-sign-algorithm", "q-ak", "q-key-time", "q-signature")
	if err != nil {
		return sizeRange{}, err
	}
	algorithm, ak, keyTime, signature := sig[0], sig[1], sig[2], sig[3]
	if algorithm != "sha1" {
		return sizeRange{}, errSignature("q-sign-algorithm must be sha1")
	}
	cred, err := v.credentialFor(ak)
	if err != nil {
		return sizeRange{}, err
	}
	if err := v.checkWindow(keyTime); err != nil {
		return sizeRange{}, err
	}
	// StringToSign of a form is the hex SHA-1 of the policy text as sent.
	if !signatureMatches(cred, keyTime, hexSHA1(string(policy)), signature) {
		return sizeRange{}, errSignature("it does not match the policy")
	}
	if err := checkToken(cred, fields[securityTokenField]); err != nil {
		return sizeRange{}, err
	}
	expiration, conditions, err := parsePostPolicy(policy)
	if err != nil {
		return sizeRange{}, err
	}
	if !v.now().Before(expiration) {
		return sizeRange{}, errPolicyFailed("Policy expired")
	}
	return checkPostConditions(conditions, fields, key, bucket)
}

// parsePostPolicy reads {"expiration": <RFC 3339>, "conditions": [...]}.
func parsePostPolicy(text []byte) (time.Time, []postFormCondition, error) {
	var doc struct {
		Expiration *string           `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(text, &doc); err != nil {
		return time.Time{}, nil, errPolicyDocument("the policy is not a JSON object")
	}
	if doc.Expiration == nil {
		return time.Time{}, nil, errPolicyDocument("expiration is missing")
	}
	// RFC3339Nano accepts both "…:12Z" and COS's millisecond "…:12.414Z".
	expiration, err := time.Parse(time.RFC3339Nano, *doc.Expiration)
	if err != nil {
		return time.Time{}, nil, errPolicyDocument("expiration is not an RFC 3339 time")
	}
	var conditions []postFormCondition
	for _, raw := range doc.Conditions {
		cs, err := parsePostCondition(raw)
		if err != nil {
			return time.Time{}, nil, err
		}
		conditions = append(conditions, cs...)
	}
	return expiration, conditions, nil
}

// parsePostCondition reads {"field": "v"} (one condition per member),
// ["eq"|"starts-with", "$field", "v"] or ["content-length-range", min, max].
func parsePostCondition(raw json.RawMessage) ([]postFormCondition, error) {
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var c any
	if err := d.Decode(&c); err != nil {
		return nil, errPolicyDocument("a condition is not JSON")
	}
	switch c := c.(type) {
	case map[string]any:
		out := make([]postFormCondition, 0, len(c))
		for _, field := range slices.Sorted(maps.Keys(c)) {
			value, ok := policyScalar(c[field])
			if !ok {
				return nil, errPolicyDocument("condition " + field + " has a value that is not a string")
			}
			out = append(out, postFormCondition{op: "eq", field: strings.ToLower(field), value: value})
		}
		return out, nil
	case []any:
		cond, err := parsePostArrayCondition(c)
		if err != nil {
			return nil, err
		}
		return []postFormCondition{cond}, nil
	}
	return nil, errPolicyDocument("a condition is neither an object nor an array")
}

func parsePostArrayCondition(c []any) (postFormCondition, error) {
	if len(c) != 3 {
		return postFormCondition{}, errPolicyDocument("an array condition does not have three elements")
	}
	op, _ := c[0].(string)
	op = strings.ToLower(op)
	switch op {
	case "content-length-range":
		lo, okLo := policyInt(c[1])
		hi, okHi := policyInt(c[2])
		if !okLo || !okHi || lo < 0 || hi < lo {
			return postFormCondition{}, errPolicyDocument("content-length-range needs 0 <= min <= max")
		}
		return postFormCondition{op: op, min: lo, max: hi}, nil
	case "eq", "starts-with":
		field, _ := c[1].(string)
		name, ok := strings.CutPrefix(field, "$")
		value, okValue := policyScalar(c[2])
		if !ok || name == "" || !okValue {
			return postFormCondition{}, errPolicyDocument(op + " needs a \"$field\" and a string")
		}
		return postFormCondition{op: op, field: strings.ToLower(name), value: value}, nil
	}
	return postFormCondition{}, errPolicyDocument(fmt.Sprintf("unknown condition %q", op))
}

// policyScalar accepts a string, or a number written where a string was
// meant ({"success_action_status": 201}).
func policyScalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

func policyInt(v any) (int64, bool) {
	s, ok := policyScalar(v)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// isPostSignatureField reports whether a form field is one the signature
// check verifies itself (the policy's own signature, the key, its time
// window, the STS token), so no condition need name it; S3 likewise exempts
// its signature and policy fields (and the file, never in fields here). S3
// also exempts fields named x-ignore-*; COS documents no such prefix, so
// none is exempt.
func isPostSignatureField(name string) bool {
	switch name {
	case "policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature", securityTokenField:
		return true
	}
	return false
}

// checkPostConditions holds the form against every condition, then refuses
// any form field no condition names, as S3 does ("Each form field that you
// specify in a form (except x-amz-signature, file, policy, and field names
// that have an x-ignore- prefix) must appear in the list of conditions"):
// COS documents no such rule, but a field no condition pins is one the
// signer did not mean to allow (success_action_redirect, x-cos-acl,
// x-cos-grant-*, x-cos-meta-*, ...), and the answer is S3's, 403
// AccessDenied "Invalid according to Policy: Extra input fields: ...".
// Refusals name fields, never their values: a value may be an STS token, and
// refusals are logged.
func checkPostConditions(conditions []postFormCondition, fields map[string]string, key, bucket string) (sizeRange, error) {
	lookup := func(field string) (string, bool) { return postFieldValue(field, fields, key, bucket) }
	return checkPostConditionsWith(conditions, fields, lookup, isPostSignatureField)
}

// checkPostConditionsWith holds a form to its policy's conditions, each
// against the value lookup gives for its field, then refuses every field of
// the form that no condition names, but those exempt. Each protocol's
// verifier says how its fields are looked up and which are exempt.
func checkPostConditionsWith(conditions []postFormCondition, fields map[string]string,
	lookup func(field string) (string, bool), exempt func(name string) bool) (sizeRange, error) {
	size := sizeRange{min: 0, max: math.MaxInt64}
	covered := make(map[string]bool, len(conditions))
	for _, c := range conditions {
		if c.op == "content-length-range" {
			size.min, size.max = max(size.min, c.min), min(size.max, c.max)
			if size.min > size.max {
				// Each range holds on its own; together they allow no
				// size, so no upload can satisfy the policy.
				return sizeRange{}, errPolicyFailed("Policy Condition failed: content-length-range: the ranges have no size in common")
			}
			continue
		}
		covered[c.field] = true
		got, ok := lookup(c.field)
		if !ok {
			return sizeRange{}, errPolicyFailed("Policy Condition failed: the form has no " + c.field + " field")
		}
		var holds bool
		switch c.op {
		case "eq":
			holds = got == c.value
		case "starts-with":
			holds = strings.HasPrefix(got, c.value)
		}
		if !holds {
			return sizeRange{}, errPolicyFailed("Policy Condition failed: " + c.op + " $" + c.field)
		}
	}
	var extra []string
	for name := range fields {
		if !covered[name] && !exempt(name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		return sizeRange{}, errPolicyFailed("Extra input fields: " + fieldList(extra))
	}
	return size, nil
}

// fieldList names form fields, sorted, for a refusal: at most a few, each
// cut short, since the client chose them.
func fieldList(names []string) string {
	const most, longest = 8, 64
	slices.Sort(names)
	out := make([]string, 0, min(len(names), most)+1)
	for i, name := range names {
		if i == most {
			out = append(out, fmt.Sprintf("and %d more", len(names)-most))
			break
		}
		if len(name) > longest {
			name = strings.ToValidUTF8(name[:longest], "") + "..."
		}
		out = append(out, name)
	}
	return strings.Join(out, ", ")
}

// postFieldValue is the value a condition on field is held against.
func postFieldValue(field string, fields map[string]string, key, bucket string) (string, bool) {
	switch field {
	case "bucket":
		// The bucket is the one addressed, whatever the form says.
		return bucket, true
	case "key":
		return key, true
	case "q-sign-time":
		// COS forms carry the window as q-key-time; a policy names it
		// q-sign-time.
		if v, ok := fields["q-sign-time"]; ok {
			return v, true
		}
		v, ok := fields["q-key-time"]
		return v, ok
	}
	v, ok := fields[field]
	return v, ok
}

// asCodedError reports the COS refusal err carries, if any.
func asCodedError(err error) (*codedError, bool) {
	var ce *codedError
	ok := errors.As(err, &ce)
	return ce, ok
}
