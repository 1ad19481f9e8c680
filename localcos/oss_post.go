package localcos

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// PostObject (HTML form upload) with a V4 signature, read from Aliyun's
// "PostObject" and "POST V4 signature" documents
// (https://help.aliyun.com/en/oss/developer-reference/postobject,
// https://help.aliyun.com/zh/oss/developer-reference/signature-version-4-recommend):
//
//   - the form carries policy (base64 of a JSON document),
//     x-oss-signature-version=OSS4-HMAC-SHA256, x-oss-credential, x-oss-date,
//     x-oss-signature and, with STS credentials, x-oss-security-token;
//   - x-oss-signature = HEX(HMAC-SHA256(SigningKey, policy as sent));
//   - the policy has an expiration (ISO 8601, GMT) and conditions, among
//     which x-oss-signature-version, x-oss-credential and x-oss-date are
//     required ("Required: Yes" in the conditions table) and
//     x-oss-security-token is required with STS credentials;
//   - conditions are {"field": "value"} (exact match), ["eq", "$field", v],
//     ["starts-with", "$field", prefix], ["in", "$field", [v...]],
//     ["not-in", "$field", [v...]] and ["content-length-range", min, max];
//   - form field names are case-insensitive, their values case-sensitive;
//   - "conditions不涉及的表单域将不会进行合法性检查": a form field no condition
//     names is not checked, and OSS applies the ones it knows (the PostObject
//     field table lists x-oss-object-acl, x-oss-meta-*, Content-Type,
//     x-oss-content-type, Cache-Control, Content-Disposition,
//     Content-Encoding, Expires, success_action_status, ...). The service's
//     policy must therefore pin every field it cares about.

// ossPolicy is a PostObject policy whose signature verified.
type ossPolicy struct {
	accessKeyID string
	expiration  time.Time
	conditions  []ossCondition
	// minBytes and maxBytes are the content-length-range, inclusive; the
	// caller holds the file to them while storing it.
	minBytes, maxBytes int64
}

// ossCondition is one parsed condition; field is lower-cased, without "$".
type ossCondition struct {
	op     string // "eq", "starts-with", "in" or "not-in"
	field  string
	value  string   // eq, starts-with
	values []string // in, not-in
}

// sizeRange is the object size the policy allows, in bytes and inclusive.
func (p ossPolicy) sizeRange() (minBytes, maxBytes int64) { return p.minBytes, p.maxBytes }

func ossErrPolicyDocument(why string) error {
	return refuse(http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: "+why+".")
}

// A form that fails its policy is 403 AccessDenied, as the PostObject
// document says ("如果不合法会返回错误码：AccessDenied").
func ossErrPolicyFailed(why string) error {
	return refuse(http.StatusForbidden, "AccessDenied", "Invalid according to Policy: "+why+".")
}

// ossPostSignatureFields are the form fields the signature check reads
// itself; no condition need name x-oss-signature or policy.
var ossPostSignatureFields = []string{"policy", "x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-signature"}

// verifyPostForm checks a PostObject form as OSS does: the V4 fields, the
// signature over the policy text as sent, the key's STS token, the time,
// the policy's expiration and its conditions. fields are keyed by
// lower-cased field name, with the values as sent: OSS holds the policy
// against them before it expands ${filename} in the key ("The value of a
// form field is extended after OSS checks the policy"), so a key condition
// meant to pin the stored key must be eq on a key without ${filename}. The
// bucket condition is held against this verifier's bucket, the one
// addressed. The caller enforces the returned size range while storing the
// file and stores the other fields as OSS would.
//
// x-oss-date may be up to 15 minutes in the future and at most 7 days in
// the past ("最多允许7天有效期", "允许向后偏移15分钟"), and the policy's
// expiration bounds the form as well.
func (v ossVerifier) verifyPostForm(fields map[string]string) (ossPolicy, error) {
	_, hasVersion := fields["x-oss-signature-version"]
	_, v1Key := fields["ossaccesskeyid"]
	_, v1Signature := fields["signature"]
	anySigned := hasVersion
	for _, name := range ossPostSignatureFields {
		if _, ok := fields[name]; ok {
			anySigned = true
		}
	}
	switch {
	case !hasVersion && (v1Key || v1Signature):
		return ossPolicy{}, ossErrArgument("Only V4 (x-oss-signature-version=OSS4-HMAC-SHA256) PostObject forms are accepted.")
	case !anySigned:
		// An unsigned form is anonymous, for public-read-write buckets only.
		return ossPolicy{}, ossErrNotSigned
	}
	for _, name := range ossPostSignatureFields {
		if fields[name] == "" {
			// "If one of ... policy, and Signature form fields is specified,
			// the remaining ... must be specified": 400 InvalidArgument.
			return ossPolicy{}, ossErrArgument("A V4 PostObject form needs a non-empty " + name + " field.")
		}
	}
	if fields["x-oss-signature-version"] != ossAlgorithm {
		return ossPolicy{}, ossErrArgument("x-oss-signature-version must be OSS4-HMAC-SHA256.")
	}
	cred, err := v.parseCredential(fields["x-oss-credential"])
	if err != nil {
		return ossPolicy{}, err
	}
	at, err := ossSignedAt(fields["x-oss-date"], cred)
	if err != nil {
		return ossPolicy{}, err
	}
	now := v.now()
	if now.Before(at.Add(-ossMaxSkew)) {
		return ossPolicy{}, ossErrSkewed
	}
	if now.After(at.Add(ossMaxExpires)) {
		return ossPolicy{}, ossErrExpired
	}
	key, err := v.keyFor(cred.accessKeyID)
	if err != nil {
		return ossPolicy{}, err
	}
	encoded := fields["policy"]
	if !ossSignatureMatches(ossSignature(key.SecretKey, cred.date, cred.region, encoded), fields["x-oss-signature"]) {
		return ossPolicy{}, ossErrSignature
	}
	token, hasToken := fields[ossTokenField]
	if err := checkOSSToken(key, token); err != nil {
		return ossPolicy{}, err
	}
	policy, err := ossParsePolicy(encoded)
	if err != nil {
		return ossPolicy{}, err
	}
	policy.accessKeyID = cred.accessKeyID
	required := []string{"x-oss-signature-version", "x-oss-credential", "x-oss-date"}
	if hasToken {
		required = append(required, ossTokenField)
	}
	for _, name := range required {
		if !policy.names(name) {
			return ossPolicy{}, ossErrPolicyDocument("the conditions must name " + name)
		}
	}
	if !now.Before(policy.expiration) {
		return ossPolicy{}, ossErrPolicyFailed("Policy expired")
	}
	if err := policy.check(fields, v.bucket); err != nil {
		return ossPolicy{}, err
	}
	return policy, nil
}

// names reports whether a condition names the field.
func (p ossPolicy) names(field string) bool {
	return slices.ContainsFunc(p.conditions, func(c ossCondition) bool { return c.field == field })
}

// check holds fields (keyed by lower-cased name) to every condition; a
// bucket condition is held against bucket. A field a condition names but
// the form lacks fails eq, starts-with and in; not-in has nothing to
// exclude. Refusals name the condition and the field, never a value: a
// value may be a token, and refusals are logged.
func (p ossPolicy) check(fields map[string]string, bucket string) error {
	for _, c := range p.conditions {
		got, ok := fields[c.field]
		if c.field == "bucket" {
			got, ok = bucket, true
		}
		var holds bool
		switch c.op {
		case "eq":
			holds = ok && got == c.value
		case "starts-with":
			holds = ok && strings.HasPrefix(got, c.value)
		case "in":
			holds = ok && slices.Contains(c.values, got)
		case "not-in":
			holds = !ok || !slices.Contains(c.values, got)
		}
		if !holds {
			if !ok {
				return ossErrPolicyFailed("Policy Condition failed: the form has no " + c.field + " field")
			}
			return ossErrPolicyFailed(fmt.Sprintf("Policy Condition failed: [%q, \"$%s\"]", c.op, c.field))
		}
	}
	return nil
}

// unpinned lists the form fields that would be stored with the object or
// decide how it is stored (ossStoredHeader: Content-Type, Cache-Control,
// x-oss-object-acl, x-oss-storage-class, x-oss-meta-*, ...) that no
// condition names, plus success_action_redirect and success_action_status.
// OSS accepts them unchecked; a server may log them, and a test may assert
// that the service's policy leaves none.
func (p ossPolicy) unpinned(fields map[string]string) []string {
	var out []string
	for name := range fields {
		switch {
		case slices.Contains(ossPostSignatureFields, name), name == ossTokenField, name == "file":
			continue
		case ossStoredHeader(name), name == "success_action_redirect", name == "success_action_status":
			if !p.names(name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// ossParsePolicy decodes the policy field: base64 of
// {"expiration": "<ISO 8601>", "conditions": [...]}.
func ossParsePolicy(encoded string) (ossPolicy, error) {
	text, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return ossPolicy{}, ossErrPolicyDocument("the policy field is not base64")
	}
	var doc struct {
		Expiration *string           `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(ossUnescapeDollar(text), &doc); err != nil {
		return ossPolicy{}, ossErrPolicyDocument("the policy is not a JSON object")
	}
	if doc.Expiration == nil {
		return ossPolicy{}, ossErrPolicyDocument("expiration is missing")
	}
	// RFC3339Nano reads both "...T13:00:00Z" and the documents'
	// "2023-12-03T13:00:00.000Z".
	expiration, err := time.Parse(time.RFC3339Nano, *doc.Expiration)
	if err != nil {
		return ossPolicy{}, ossErrPolicyDocument("expiration is not an ISO 8601 time")
	}
	p := ossPolicy{expiration: expiration, minBytes: 0, maxBytes: math.MaxInt64}
	if doc.Conditions == nil {
		return ossPolicy{}, ossErrPolicyDocument("conditions are missing")
	}
	for _, raw := range doc.Conditions {
		if err := p.addCondition(raw); err != nil {
			return ossPolicy{}, err
		}
	}
	return p, nil
}

// ossUnescapeDollar turns the policy's \$ escape, which the PostObject
// document lists for a literal dollar sign but JSON does not know, into $.
// Other escapes are left to the JSON decoder.
func ossUnescapeDollar(text []byte) []byte {
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		if text[i] == '\\' && i+1 < len(text) {
			if text[i+1] == '$' {
				out = append(out, '$')
			} else {
				out = append(out, text[i], text[i+1])
			}
			i++
			continue
		}
		out = append(out, text[i])
	}
	return out
}

// addCondition parses one condition into p.
func (p *ossPolicy) addCondition(raw json.RawMessage) error {
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var c any
	if err := d.Decode(&c); err != nil {
		return ossErrPolicyDocument("a condition is not JSON")
	}
	switch c := c.(type) {
	case map[string]any:
		for _, field := range slices.Sorted(maps.Keys(c)) {
			value, ok := policyScalar(c[field])
			if !ok {
				return ossErrPolicyDocument("condition " + field + " has a value that is not a string")
			}
			p.conditions = append(p.conditions, ossCondition{op: "eq", field: strings.ToLower(field), value: value})
		}
		return nil
	case []any:
		return p.addArrayCondition(c)
	}
	return ossErrPolicyDocument("a condition is neither an object nor an array")
}

func (p *ossPolicy) addArrayCondition(c []any) error {
	if len(c) != 3 {
		return ossErrPolicyDocument("an array condition does not have three elements")
	}
	op, _ := c[0].(string)
	op = strings.ToLower(op)
	if op == "content-length-range" {
		lo, okLo := policyInt(c[1])
		hi, okHi := policyInt(c[2])
		if !okLo || !okHi || lo < 0 || hi < lo {
			return ossErrPolicyDocument("content-length-range needs 0 <= min <= max")
		}
		p.minBytes, p.maxBytes = max(p.minBytes, lo), min(p.maxBytes, hi)
		if p.minBytes > p.maxBytes {
			// Each range holds on its own; together they allow no size, so
			// no upload can satisfy the policy.
			return ossErrPolicyFailed("content-length-range: the policy's ranges have no size in common")
		}
		return nil
	}
	field, _ := c[1].(string)
	name, ok := strings.CutPrefix(field, "$")
	if !ok || name == "" {
		return ossErrPolicyDocument(fmt.Sprintf("%q needs a \"$field\"", op))
	}
	cond := ossCondition{op: op, field: strings.ToLower(name)}
	switch op {
	case "eq", "starts-with":
		if cond.value, ok = policyScalar(c[2]); !ok {
			return ossErrPolicyDocument(op + " needs a string value")
		}
	case "in", "not-in":
		list, isList := c[2].([]any)
		if !isList {
			return ossErrPolicyDocument(op + " needs a list of strings")
		}
		for _, item := range list {
			s, ok := policyScalar(item)
			if !ok {
				return ossErrPolicyDocument(op + " needs a list of strings")
			}
			cond.values = append(cond.values, s)
		}
	default:
		return ossErrPolicyDocument(fmt.Sprintf("unknown condition %q", op))
	}
	p.conditions = append(p.conditions, cond)
	return nil
}
