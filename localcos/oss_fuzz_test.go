package localcos

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Hostile input for the OSS V4 verifier (oss_verify.go, oss_post.go), in the
// spirit of FuzzSigV4Request and FuzzS3PostPolicy. The references are the
// worked examples of testdata/oss-v4-vectors.md at fixed times, so the seeds
// mean the same on every run: D1 (Aliyun's documented PutObject, signed in
// the Authorization header), Q1 (Aliyun's Go SDK's presigned PUT) and P1
// (the POST V4 page's policy, signed for that file).

// ossFuzzCodes are the refusals the OSS verifier may answer with, and their
// statuses, as OSS's "Error responses" and its EC pages give them
// (oss_verify.go, oss_post.go cite each). Any other code, or one of these
// with another status, is not OSS's answer.
var ossFuzzCodes = map[string]int{
	"AccessDenied":          http.StatusForbidden,
	"InvalidAccessKeyId":    http.StatusForbidden,
	"InvalidSecurityToken":  http.StatusForbidden,
	"RequestTimeTooSkewed":  http.StatusForbidden,
	"SignatureDoesNotMatch": http.StatusForbidden,
	"InvalidArgument":       http.StatusBadRequest,
	"InvalidURI":            http.StatusBadRequest,
	"InvalidPolicyDocument": http.StatusBadRequest,
	"NoSuchBucket":          http.StatusNotFound,
}

// checkOSSCoded is checkCoded held to OSS's codes, and to messages that
// never carry a secret (common brief: secrets never reach a client).
func checkOSSCoded(t *testing.T, what string, err error, secrets ...string) {
	t.Helper()
	checkCoded(t, what, err)
	if err == nil {
		return
	}
	ce, _ := asCodedError(err)
	if status, ok := ossFuzzCodes[ce.code]; !ok || status != ce.status {
		t.Fatalf("%s: refusal %d %q is not one of OSS's", what, ce.status, ce.code)
	}
	for _, s := range secrets {
		if strings.Contains(ce.message, s) {
			t.Fatalf("%s: the refusal's message %q carries a secret", what, ce.message)
		}
	}
}

// ossFuzzBase is one known-good request of FuzzOSSRequest: the request as
// signed, without its signature, the verifier that accepts it, and what it
// signed.
type ossFuzzBase struct {
	name      string
	request   func() *http.Request // with neither Authorization nor query
	verifier  ossVerifier
	pathStyle bool
	bucket    string
	path      string // as addressed: /object, or /bucket/object path style
	object    string
	presigned bool
}

const (
	ossFuzzPathHost = "127.0.0.1:9000" // an IP address: path style, as the local server is addressed
	// ossQ1Canonical is Q1's canonical query without x-oss-signature:
	// the SDK's test's canonical query (testdata/oss-v4-vectors.md) and the
	// presigned URL's own parameters, sorted by encoded key.
	ossQ1Canonical = "%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2" +
		"&x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20231217T025437Z" +
		"&x-oss-expires=599&x-oss-signature-version=OSS4-HMAC-SHA256"
	ossD1Credential = ossD1AccessKeyID + "/20250411/cn-hangzhou/oss/aliyun_v4_request"
	ossD1Additional = "content-disposition;content-length"
)

var ossQ1Key = Key{SecretID: "ak", SecretKey: "sk"}

// ossFuzzBases are D1 and Q1, each addressed virtual-hosted style (the
// host names the bucket) and path style (as Aliyun's SDK addresses the
// local server's 127.0.0.1:port): neither signs the Host, so both verify
// either way. Each verifier knows both keys, so that a signature replayed
// onto the other request is checked, not refused for its key.
func ossFuzzBases() []ossFuzzBase {
	d1 := func() *http.Request {
		r := ossD1Request(ossD1Signature)
		r.Header.Del("Authorization")
		return r
	}
	q1 := func() *http.Request {
		r := ossVectorPresigned(ossQ1Unix, "", "", ossQ1Signature)
		r.URL.RawQuery = ""
		return r
	}
	pathStyle := func(mk func() *http.Request, bucket string) func() *http.Request {
		return func() *http.Request {
			r := mk()
			r.Host, r.URL.Host = ossFuzzPathHost, ossFuzzPathHost
			r.URL.Path = "/" + bucket + r.URL.Path
			return r
		}
	}
	d1v := ossVerifierAt(ossD1Time.Add(time.Minute), "examplebucket", "cn-hangzhou", ossQ1Key, ossD1Key)
	q1v := ossVerifierAt(time.Unix(ossQ1Unix, 0).Add(time.Minute), "bucket", "cn-hangzhou", ossD1Key, ossQ1Key)
	const d1Object, q1Object = "exampleobject", "1234+-/123/1.txt"
	return []ossFuzzBase{
		{name: "D1", request: d1, verifier: d1v, bucket: "examplebucket", path: "/" + d1Object, object: d1Object},
		{name: "D1 path style", request: pathStyle(d1, "examplebucket"), verifier: d1v, pathStyle: true,
			bucket: "examplebucket", path: "/examplebucket/" + d1Object, object: d1Object},
		{name: "Q1", request: q1, verifier: q1v, bucket: "bucket", path: "/" + q1Object, object: q1Object, presigned: true},
		{name: "Q1 path style", request: pathStyle(q1, "bucket"), verifier: q1v, pathStyle: true,
			bucket: "bucket", path: "/bucket/" + q1Object, object: q1Object, presigned: true},
	}
}

// ossFuzzPair is one query parameter as OSS reads it: split on '&' only,
// each side decoded as a form value. ok is false when either side is not
// valid percent-encoding.
type ossFuzzPair struct {
	key, value string
	ok         bool
}

func ossFuzzPairs(raw string) []ossFuzzPair {
	var out []ossFuzzPair
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dk, errK := url.QueryUnescape(k)
		dv, errV := url.QueryUnescape(v)
		out = append(out, ossFuzzPair{dk, dv, errK == nil && errV == nil})
	}
	return out
}

// ossFuzzSignedPairs is what a signature over the query covers, as the
// test reads it: every decoded pair but those named skip (when not empty),
// sorted. A pair with an empty name and value is left out: the canonical
// query writes it as nothing ("key without a value written alone", and the
// key is empty), so a signature cannot tell one from none, and the server
// reads no parameter without a name.
func ossFuzzSignedPairs(raw, skip string) []string {
	var out []string
	for _, p := range ossFuzzPairs(raw) {
		if skip != "" && p.key == skip || p.key == "" && p.value == "" {
			continue
		}
		out = append(out, p.key+"\x00"+p.value)
	}
	slices.Sort(out)
	return out
}

// ossFuzzCarriesSignature is the test's own reading of "this request
// carries a signature": an Authorization header, or a query parameter
// (split as OSS splits it) named as a V4 or V1 signature's, whatever its
// value. The server serves a public object anonymously to a request that
// carries none (getObject); one that carries one must carry a valid one.
func ossFuzzCarriesSignature(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	for _, p := range ossFuzzPairs(r.URL.RawQuery) {
		switch p.key {
		case "x-oss-signature", "x-oss-credential", "x-oss-signature-version", "OSSAccessKeyId", "Signature":
			return true
		}
	}
	return false
}

// ossFuzzUnsignedCode is the refusal of a request that carries no
// signature: AccessDenied, unless the request is refused before any
// question of signatures, for a path that is no path, another bucket (OSS
// answers NoSuchBucket before reading a signature) or a query that is not
// percent-encoding.
func ossFuzzUnsignedCode(b ossFuzzBase, r *http.Request) string {
	path, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok {
		return "InvalidURI"
	}
	if bucket, _, _ := strings.Cut(path, "/"); b.pathStyle && path != "" && bucket != b.bucket {
		return "NoSuchBucket"
	}
	for _, p := range ossFuzzPairs(r.URL.RawQuery) {
		if !p.ok {
			return "InvalidURI"
		}
	}
	return "AccessDenied"
}

// ossFuzzAuthorizationFields reads an OSS4-HMAC-SHA256 Authorization header
// as the documents write it: "Credential=..., AdditionalHeaders=...,
// Signature=...", pairs separated by ',' and optional spaces.
func ossFuzzAuthorizationFields(h string) (map[string][]string, bool) {
	algorithm, rest, _ := strings.Cut(h, " ")
	if algorithm != ossAlgorithm {
		return nil, false
	}
	fields := map[string][]string{}
	for pair := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
		fields[k] = append(fields[k], v)
	}
	return fields, true
}

// FuzzOSSRequest sends D1's or Q1's request (base picks which, and how it
// is addressed) with an arbitrary query, Authorization header (when not
// empty) and path (when not empty), through the dialect's seam
// (ossRequestAuth, what the server calls) and the verifier itself. Only a
// replay of D1's Authorization header onto D1's request, or of Q1's query
// onto Q1's, can verify, and only while what they signed is unchanged. Every
// refusal is one of OSS's; a request without a signature is AccessDenied.
func FuzzOSSRequest(f *testing.F) {
	bases := ossFuzzBases()
	d1Auth := ossD1Request(ossD1Signature).Header.Get("Authorization")
	q1Query := ossVectorPresigned(ossQ1Unix, "", "", ossQ1Signature).URL.RawQuery
	for _, b := range bases {
		r := b.request()
		if b.presigned {
			r.URL.RawQuery = q1Query
		} else {
			r.Header.Set("Authorization", d1Auth)
		}
		if _, err := b.verifier.verifyRequest(r); err != nil {
			f.Fatalf("%s does not verify: %v", b.name, err)
		}
	}
	// What Q1 signed, as the test reads it, is what the SDK's test signs:
	// its canonical query is the one the vectors give.
	q1Signed := ossFuzzSignedPairs(q1Query, "x-oss-signature")
	var q1Pairs []ossQueryPair
	for _, kv := range q1Signed {
		k, v, _ := strings.Cut(kv, "\x00")
		q1Pairs = append(q1Pairs, ossQueryPair{k, v})
	}
	if got := ossCanonicalQuery(q1Pairs); got != ossQ1Canonical {
		f.Fatalf("Q1's signed query reads as %q; the vectors give %q", got, ossQ1Canonical)
	}

	const (
		d1, d1Path, q1, q1Path = 0, 1, 2, 3
	)
	q := func(old, new string) string { return strings.Replace(q1Query, old, new, 1) }
	a := func(old, new string) string { return strings.Replace(d1Auth, old, new, 1) }
	for _, s := range []struct {
		base                          uint8
		rawQuery, authorization, path string
	}{
		// The replays.
		{d1, "", d1Auth, ""},
		{d1Path, "", d1Auth, ""},
		{q1, q1Query, "", ""},
		{q1Path, q1Query, "", ""},
		// Header signing: separators, case, duplicates, fields.
		{d1, "", strings.ReplaceAll(d1Auth, ",", ", "), ""},
		{d1, "", a(ossD1Signature, strings.ToUpper(ossD1Signature)), ""},
		{d1, "", a("Credential=", "credential="), ""},
		{d1, "", a("OSS4-HMAC-SHA256", "oss4-hmac-sha256"), ""},
		{d1, "", d1Auth + ",Signature=" + ossD1Signature, ""},
		{d1, "", d1Auth + ",Signature=0", ""},
		{d1, "", a(",AdditionalHeaders="+ossD1Additional, ""), ""},
		{d1, "", a(ossD1Additional, "content-length;content-disposition"), ""},
		{d1, "", a(ossD1Additional, ossD1Additional+";host"), ""},
		{d1, "", a(ossD1Additional, "Content-Disposition;Content-Length"), ""},
		{d1, "", a(ossD1Additional, "content-disposition;;content-length"), ""},
		{d1, "", a("/cn-hangzhou/", "/cn-beijing/"), ""},
		{d1, "", a("/cn-hangzhou/", "/oss-cn-hangzhou/"), ""},
		{d1, "", a("/20250411/", "/20250410/"), ""},
		{d1, "", a("/aliyun_v4_request", ""), ""},
		{d1, "", a("/aliyun_v4_request", "/aliyun_v4_request/"), ""},
		{d1, "", a(ossD1Credential, "/20250411/cn-hangzhou/oss/aliyun_v4_request"), ""},
		{d1, "", a(ossD1Credential, strings.ReplaceAll(ossD1Credential, "/", "%2F")), ""},
		{d1, "", "OSS4-HMAC-SHA256", ""},
		{d1, "", "OSS4-HMAC-SHA256 ,,,===", ""},
		{d1, "", "OSS " + ossD1AccessKeyID + ":c2lnbmF0dXJl", ""},
		{d1, "", "AWS4-HMAC-SHA256 Credential=" + ossD1Credential + ",SignedHeaders=host,Signature=" + ossD1Signature, ""},
		{d1, "", a("Signature=", "Signature=\x00"), ""},
		// Header signing: the query and the path are signed.
		{d1, "=", d1Auth, ""},
		{d1, "=&=", d1Auth, ""},
		{d1, "acl", d1Auth, ""},
		{d1, q1Query, d1Auth, ""},
		{d1, "", d1Auth, "/exampleobject/"},
		{d1, "", d1Auth, "/Exampleobject"},
		{d1, "", d1Auth, "/exampleobject%2F"},
		{d1, "", d1Auth, "exampleobject"},
		{d1Path, "", d1Auth, "/examplebucket/exampleobject/"},
		{d1Path, "", d1Auth, "/examplebucket//exampleobject"},
		{d1Path, "", d1Auth, "/otherbucket/exampleobject"},
		{d1Path, "", d1Auth, "/examplebucket"},
		// A presigned URL: duplicates, case, percent-encoding.
		{q1, q1Query + "&param1=value1", "", ""},
		{q1, q1Query + "&x-oss-date=20231217T025437Z", "", ""},
		{q1, q1Query + "&x-oss-signature=" + ossQ1Signature, "", ""},
		{q1, q1Query + "&x-oss-security-token=", "", ""},
		{q1, q1Query + "&content-type=text%2Fhtml", "", ""},
		{q1, q1Query + "&x-oss-additional-headers=host", "", ""},
		{q1, q1Query + "&=", "", ""},
		{q1, q(ossQ1Signature, strings.ToUpper(ossQ1Signature)), "", ""},
		{q1, q("x-oss-signature=", "X-Oss-Signature="), "", ""},
		{q1, q("OSS4-HMAC-SHA256", "oss4-hmac-sha256"), "", ""},
		{q1, strings.ReplaceAll(q1Query, "%2F", "/"), "", ""},
		{q1, strings.ReplaceAll(q1Query, "%2F", "%2f"), "", ""},
		{q1, strings.ReplaceAll(q1Query, "%2B", "+"), "", ""},
		{q1, q("param1=value1", "param1=value%31"), "", ""},
		{q1, q("param2=", "param2"), "", ""},
		{q1, q("x-oss-expires=599", "x-oss-expires=1"), "", ""},
		{q1, q("x-oss-expires=599", "x-oss-expires=604801"), "", ""},
		{q1, q("x-oss-expires=599", "x-oss-expires=+599"), "", ""},
		{q1, q("x-oss-expires=599", "x-oss-expires=9223372036854775807"), "", ""},
		{q1, strings.ReplaceAll(q1Query, "20231217", "20231210"), "", ""},
		{q1, q("x-oss-date=20231217T025437Z", "x-oss-date=20231217T025437"), "", ""},
		{q1, q("cn-hangzhou", "cn-beijing"), "", ""},
		{q1, q("%2Faliyun_v4_request", ""), "", ""},
		{q1, q("ak%2F", "%2F"), "", ""},
		{q1, q("x-oss-signature=", "x-oss-signature=%zz"), "", ""},
		{q1, q1Query, d1Auth, ""},
		{q1, q("x-oss-credential=", "x-oss-credential=;"), "", ""},
		// BUG, reported and not fixed here: ossRequestAuth.signed
		// (hasOSSSignature, ossV1Query) reads the query with URL.Query,
		// which drops every pair holding a raw ';' or an invalid escape,
		// while verifyRequest splits on '&' as OSS does. A request whose
		// only signature parameter is such a pair is signed() == false, so
		// the server serves a public object to it anonymously (GET
		// ?x-oss-signature=a;b or ?Signature=x;y answers 200) where a
		// well-formed bad signature is refused (?x-oss-signature=ab: 400
		// InvalidArgument, ?Signature=x: 400 InvalidArgument, errOSSV1).
		{q1, "x-oss-signature=a;b", "", ""},
		{q1, "Signature=%zz", "", ""},
		{q1, q1Query, "", "/1234 -/123/1.txt"},
		{q1, q1Query, "", "/1234+-/123/1.txt/"},
		{q1Path, q1Query, "", "/bucket/1234%2B-/123/1.txt"},
		{q1Path, q1Query, "", "/bucket"},
		// V1, and no signature at all.
		{q1, "OSSAccessKeyId=ak&Expires=1702782277&Signature=c2lnbmF0dXJl", "", ""},
		{q1, "", "", ""},
		{q1, "response-content-type=text%2Fhtml", "", ""},
		{q1, "%zz", "", ""},
		{q1Path, "", "", "/otherbucket/x"},
		{q1Path, "", "", "/"},
		{q1, "", "", "x"},
		// Control bytes.
		{q1, ";;;&&%00=%00&\x00=\xff", "\xff\xfe", "\x00"},
		{q1, q("param1=value1", "param1=value1%0D%0A"), "", ""},
		{d1, "\r\n", a(ossD1Credential, ossD1Credential+"\r\n"), "/exampleobject\x7f"},
	} {
		f.Add(s.base, s.rawQuery, s.authorization, s.path)
	}

	f.Fuzz(func(t *testing.T, base uint8, rawQuery, authorization, path string) {
		b := bases[int(base)%len(bases)]
		r := b.request()
		r.URL.RawQuery = rawQuery
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if path != "" {
			r.URL.Path, r.URL.RawPath = path, ""
		}
		seam := ossRequestAuth{b.verifier}
		signed := seam.signed(r)
		if carries := ossFuzzCarriesSignature(r); signed != carries {
			t.Fatalf("%s: signed() = %v; carries a signature (Authorization or a signature parameter) = %v", b.name, signed, carries)
		}
		_, err := seam.verifyRequest(r)
		checkOSSCoded(t, "verifyRequest", err, ossD1Secret)
		if !signed {
			if want := ossFuzzUnsignedCode(b, r); codeOf(err) != want {
				t.Fatalf("%s, unsigned: got %q (%v); want %s", b.name, codeOf(err), err, want)
			}
		}
		auth, verr := b.verifier.verifyRequest(r)
		checkOSSCoded(t, "ossVerifier.verifyRequest", verr, ossD1Secret)
		if (err == nil) != (verr == nil) {
			t.Fatalf("%s: the seam answers %v, the verifier %v", b.name, err, verr)
		}
		if err != nil {
			return
		}

		if r.URL.Path != b.path || auth.bucket != b.bucket || auth.object != b.object {
			t.Fatalf("%s verifies for path %q (bucket %q, object %q); signed %q", b.name, r.URL.Path, auth.bucket, auth.object, b.path)
		}
		if b.presigned {
			if authorization != "" || !auth.presigned {
				t.Fatalf("Q1's request verifies with an Authorization header %q; it signed none", authorization)
			}
			if got := ossFuzzSignedPairs(rawQuery, "x-oss-signature"); !slices.Equal(got, q1Signed) {
				t.Fatalf("Q1 verifies with query %q (parameters %q); signed %q", rawQuery, got, q1Signed)
			}
			var sig []string
			for _, p := range ossFuzzPairs(rawQuery) {
				if p.key == "x-oss-signature" {
					sig = append(sig, p.value)
				}
			}
			if len(sig) != 1 || !strings.EqualFold(sig[0], ossQ1Signature) {
				t.Fatalf("Q1 verifies with x-oss-signature %q", sig)
			}
			if want := time.Unix(ossQ1Unix+599, 0); !auth.expires.Equal(want) {
				t.Fatalf("Q1 verifies until %v; signed until %v", auth.expires, want)
			}
			return
		}
		if auth.presigned || auth.accessKeyID != ossD1AccessKeyID || !auth.signedAt.Equal(ossD1Time) {
			t.Fatalf("D1 verifies as %+v", auth)
		}
		if got := ossFuzzSignedPairs(rawQuery, ""); len(got) != 0 {
			t.Fatalf("D1 verifies with query parameters %q; it signed none", got)
		}
		fields, ok := ossFuzzAuthorizationFields(authorization)
		if !ok || len(fields) != 3 || !slices.Equal(fields["Credential"], []string{ossD1Credential}) ||
			!slices.Equal(fields["AdditionalHeaders"], []string{ossD1Additional}) ||
			len(fields["Signature"]) != 1 || !strings.EqualFold(fields["Signature"][0], ossD1Signature) {
			t.Fatalf("D1 verifies with Authorization %q", authorization)
		}
	})
}

// ossFuzzP1Required are the conditions a form with P1's STS token must
// name: x-oss-signature-version, x-oss-credential and x-oss-date always,
// x-oss-security-token with STS credentials ("POST V4 signature").
const ossFuzzP1Required = `{"x-oss-signature-version":"OSS4-HMAC-SHA256"},` +
	`{"x-oss-credential":"` + ossP1Credential + `"},{"x-oss-date":"` + ossP1DateTime + `"},` +
	`{"x-oss-security-token":"CAIS******"}`

// ossFuzzPolicy is a P1-dated policy with the required conditions and more.
func ossFuzzPolicy(more string) string {
	return `{"expiration":"2023-12-03T13:00:00.000Z","conditions":[` + ossFuzzP1Required + more + `]}`
}

// ossFuzzConditionsHold is the test's own reading of a policy that
// verified: when the text is JSON (decoded as encoding/json decodes the
// verifier's document), every condition holds for the form and the size
// range lies within every content-length-range. It returns what is wrong,
// or "".
func ossFuzzConditionsHold(text string, form map[string]string, bucket string, size sizeRange) string {
	var doc struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if json.Unmarshal([]byte(text), &doc) != nil {
		return "" // \$ and the like: the verifier's own dialect of JSON
	}
	if exp, err := time.Parse(time.RFC3339Nano, doc.Expiration); err != nil || !ossP1Time.Before(exp) {
		return "expiration " + strconv.Quote(doc.Expiration) + " is not after the time of the request"
	}
	scalar := func(v any) (string, bool) {
		switch v := v.(type) {
		case string:
			return v, true
		case json.Number:
			return v.String(), true
		}
		return "", false
	}
	value := func(field string) (string, bool) {
		if field == "bucket" {
			return bucket, true
		}
		v, ok := form[field]
		return v, ok
	}
	named := map[string]bool{}
	for _, raw := range doc.Conditions {
		d := json.NewDecoder(strings.NewReader(string(raw)))
		d.UseNumber()
		var c any
		if d.Decode(&c) != nil {
			return "a condition is not JSON"
		}
		switch c := c.(type) {
		case map[string]any:
			for k, v := range c {
				want, _ := scalar(v)
				field := strings.ToLower(k)
				named[field] = true
				if got, ok := value(field); !ok || got != want {
					return "{" + strconv.Quote(k) + "} does not hold"
				}
			}
		case []any:
			if len(c) != 3 {
				return "an array condition of " + strconv.Itoa(len(c))
			}
			op, _ := c[0].(string)
			if strings.EqualFold(op, "content-length-range") {
				lo, _ := scalar(c[1])
				hi, _ := scalar(c[2])
				l, errL := strconv.ParseInt(lo, 10, 64)
				h, errH := strconv.ParseInt(hi, 10, 64)
				if errL != nil || errH != nil || size.min < l || size.max > h {
					return "the size range is not within content-length-range " + lo + ", " + hi
				}
				continue
			}
			name, _ := c[1].(string)
			field := strings.ToLower(strings.TrimPrefix(name, "$"))
			named[field] = true
			got, ok := value(field)
			var list []string
			if items, isList := c[2].([]any); isList {
				for _, item := range items {
					s, _ := scalar(item)
					list = append(list, s)
				}
			}
			want, _ := scalar(c[2])
			var holds bool
			switch strings.ToLower(op) {
			case "eq":
				holds = ok && got == want
			case "starts-with":
				holds = ok && strings.HasPrefix(got, want)
			case "in":
				holds = ok && slices.Contains(list, got)
			case "not-in":
				holds = !ok || !slices.Contains(list, got)
			}
			if !holds {
				return strconv.Quote(op) + " " + strconv.Quote(name) + " does not hold"
			}
		}
	}
	for _, field := range []string{"x-oss-signature-version", "x-oss-credential", "x-oss-date", ossTokenField} {
		if !named[field] {
			return "no condition names " + field
		}
	}
	return ""
}

// FuzzOSSPostPolicy drives the PostObject check (through the seam the
// server calls) two ways with every input:
//
//  1. policyText is arbitrary text, correctly signed (by the test's own HMAC,
//     ossPostSignature), so parsing and every condition check are reached;
//     the form is P1's with one arbitrary field added. What verifies has a
//     sane size range and satisfies every condition, as the test reads them.
//  2. P1's form with one field set to value (or dropped): a field P1 pins
//     with eq, or the signature covers, may not verify with another value,
//     nor a key, type or cache-control outside P1's other conditions.
//
// Field names are lower-cased, as the server keys the form.
func FuzzOSSPostPolicy(f *testing.F) {
	const bucket = "examplebucket"
	seam := ossRequestAuth{ossVerifierAt(ossP1Time, bucket, "cn-hangzhou", ossP1Key)}
	p1 := ossP1Fields()
	if size, err := seam.verifyPostForm(p1, p1["key"], bucket); err != nil || size != (sizeRange{1, 10}) {
		f.Fatalf("P1 does not verify: %v %+v", err, size)
	}
	// The reference policy verifies in mode 1, and the test's own reading of
	// its conditions holds for P1 and fails when a condition does not.
	plain := ossFuzzPolicy("")
	signedPlain := ossP1Fields()
	signedPlain["policy"] = base64.StdEncoding.EncodeToString([]byte(plain))
	signedPlain["x-oss-signature"] = ossPostSignature(ossP1Key.SecretKey, "20231203", "cn-hangzhou", signedPlain["policy"])
	if size, err := seam.verifyPostForm(signedPlain, p1["key"], bucket); err != nil {
		f.Fatalf("a signed policy with the required conditions does not verify: %v %+v", err, size)
	}
	if why := ossFuzzConditionsHold(ossP1Policy, p1, bucket, sizeRange{1, 10}); why != "" {
		f.Fatalf("P1's conditions do not hold for P1's form: %s", why)
	}
	for _, edit := range []func(map[string]string){
		func(m map[string]string) { m["key"] = "user/other/a.png" },
		func(m map[string]string) { m["content-type"] = "image/gif" },
		func(m map[string]string) { m["cache-control"] = "no-cache" },
		func(m map[string]string) { delete(m, "success_action_status") },
	} {
		form := ossP1Fields()
		edit(form)
		if ossFuzzConditionsHold(ossP1Policy, form, bucket, sizeRange{1, 10}) == "" ||
			ossFuzzConditionsHold(ossP1Policy, p1, "otherbucket", sizeRange{1, 10}) == "" ||
			ossFuzzConditionsHold(ossP1Policy, p1, bucket, sizeRange{0, 10}) == "" {
			f.Fatal("the test's reading of P1's conditions holds for a form that fails them")
		}
	}
	pinned := map[string]bool{ // eq in P1's policy, or covered by the signature
		"x-oss-signature-version": true, "x-oss-credential": true, "x-oss-security-token": true,
		"x-oss-date": true, "success_action_status": true, "policy": true,
	}

	p := ossP1Policy
	for _, s := range []struct {
		policy, extraField, extraValue, field, value string
		drop                                         bool
	}{
		{p, "", "", "", "", false},
		{p, "x-oss-object-acl", "public-read", "success_action_status", "200", false},
		{p, "Bucket", "otherbucket", "bucket", "otherbucket", false},
		{p, "", "", "x-oss-signature", strings.ToUpper(ossP1Signature), false},
		{p, "", "", "x-oss-signature", ossP1Signature[:63] + "0", false},
		{p, "", "", "x-oss-signature", "", true},
		{p, "", "", "x-oss-signature-version", "oss4-hmac-sha256", false},
		{p, "", "", "x-oss-credential", strings.Replace(ossP1Credential, "cn-hangzhou", "cn-beijing", 1), false},
		{p, "", "", "x-oss-credential", strings.TrimSuffix(ossP1Credential, "/aliyun_v4_request"), false},
		{p, "", "", "x-oss-credential", strings.ReplaceAll(ossP1Credential, "/", "%2F"), false},
		{p, "", "", "x-oss-credential", "AKIDEXAMPLE/20231126/cn-hangzhou/oss/aliyun_v4_request", false},
		{p, "", "", "x-oss-date", "20231126T121212Z", false},
		{p, "", "", "x-oss-date", "20231203T121212", false},
		{p, "", "", "x-oss-security-token", "", true},
		{p, "", "", "x-oss-security-token", "CAIS******\x00", false},
		{p, "", "", "policy", p1["policy"] + "\n", false},
		{p, "", "", "policy", strings.TrimRight(p1["policy"], "="), false},
		{p, "", "", "policy", base64.URLEncoding.EncodeToString([]byte(ossP1Policy)), false},
		{p, "", "", "key", "user/eric/../../etc/passwd", false},
		{p, "", "", "key", "USER/eric/a.png", false},
		{p, "", "", "key", "user%2Feric%2Fa.png", false},
		{p, "", "", "key", "", true},
		{p, "", "", "content-type", "image/PNG", false},
		{p, "", "", "content-type", "image/png\r\n", false},
		{p, "", "", "cache-control", "no-cache", false},
		{p, "", "", "success_action_status", "201 ", false},
		{p, "", "", "success_action_status", "\x00", false},
		{p, "", "", "x-oss-meta-a", "\x7f", false},
		// Arbitrary policies.
		{ossFuzzPolicy(""), "", "", "", "", false},
		// BUG, reported and not fixed here: two content-length-range
		// conditions with no size in common each pass addArrayCondition
		// (0 <= min <= max), and their intersection is returned as is: the
		// form verifies with the empty range {min:5 max:2}, and the upload
		// is refused only after its body is read, as too large or too small.
		{ossFuzzPolicy(`,["content-length-range",1,2],["content-length-range",5,10]`), "", "", "", "", false},
		{ossFuzzPolicy(`,["content-length-range",-1,10]`), "", "", "", "", false},
		{ossFuzzPolicy(`,["content-length-range",10,1]`), "", "", "", "", false},
		{ossFuzzPolicy(`,["content-length-range","9223372036854775807","9223372036854775808"]`), "", "", "", "", false},
		{ossFuzzPolicy(`,["content-length-range",1e3,2e3]`), "", "", "", "", false},
		{ossFuzzPolicy(`,["content-length-range",0,9223372036854775807]`), "", "", "", "", false},
		{ossFuzzPolicy(`,["eq","$key","a"],["eq","$key","b"]`), "key", "a", "", "", false},
		{ossFuzzPolicy(`,["EQ","$KEY","user/eric/a.png"],{"Content-Type":"image/png"}`), "", "", "", "", false},
		{ossFuzzPolicy(`,["eq","$key","a\$b"]`), "key", "a$b", "", "", false},
		{ossFuzzPolicy(`,["in","$success_action_status",[201,"200"]]`), "", "", "", "", false},
		{ossFuzzPolicy(`,["not-in","$x-oss-object-acl",["public-read"]]`), "x-oss-object-acl", "public-read", "", "", false},
		{ossFuzzPolicy(`,["starts-with","$key",""]`), "", "", "key", "", true},
		{ossFuzzPolicy(`,["eq","$x-oss-meta-a","\u0000\r\n"]`), "x-oss-meta-a", "\x00\r\n", "", "", false},
		{ossFuzzPolicy(`,{"bucket":"otherbucket"}`), "bucket", "otherbucket", "", "", false},
		{ossFuzzPolicy(`,["eq","$",""],{"":""}`), "", "", "", "", false},
		{ossFuzzPolicy(`,{"key":null}`), "", "", "", "", false},
		{ossFuzzPolicy(`,[[[[["eq"]]]]]`), "", "", "", "", false},
		{strings.Replace(ossFuzzPolicy(""), "2023-12-03T13:00:00.000Z", "2023-12-03T12:19:59Z", 1), "", "", "", "", false},
		{strings.Replace(ossFuzzPolicy(""), `"expiration"`, `"expiration":"2023-12-01T00:00:00Z","EXPIRATION"`, 1), "", "", "", "", false},
		{strings.Replace(ossFuzzPolicy(""), "2023-12-03T13:00:00.000Z", "2023-12-03T13:00:00+99:00", 1), "", "", "", "", false},
		{`{"expiration":"2023-12-03T13:00:00Z","conditions":null}`, "", "", "", "", false},
		{`{"expiration":"2023-12-03T13:00:00Z","conditions":` + strings.Repeat("[", 10001) + `}`, "", "", "", "", false},
		{`{"expiration":"2023-12-03T13:00:00Z"}`, "", "", "", "", false},
		{`[]`, "", "", "", "", false},
		{"\xff\xfe{", "", "", "", "", false},
		{"not json", "POLICY", "x", "x-oss-signature", "", false},
	} {
		f.Add(s.policy, s.extraField, s.extraValue, s.field, s.value, s.drop)
	}

	f.Fuzz(func(t *testing.T, policyText, extraField, extraValue, field, value string, drop bool) {
		extraField, field = strings.ToLower(extraField), strings.ToLower(field)

		// 1. An arbitrary policy, signed, and one field added.
		form := ossP1Fields()
		form["policy"] = base64.StdEncoding.EncodeToString([]byte(policyText))
		form["x-oss-signature"] = ossPostSignature(ossP1Key.SecretKey, "20231203", "cn-hangzhou", form["policy"])
		if extraField != "" {
			form[extraField] = extraValue
		}
		size, err := seam.verifyPostForm(form, form["key"], bucket)
		checkOSSCoded(t, "verifyPostForm (signed policy)", err, ossP1Key.SecretKey)
		if err == nil {
			if size.min < 0 || size.max < 0 || size.min > size.max {
				t.Fatalf("verifies with size range %+v", size)
			}
			if why := ossFuzzConditionsHold(policyText, form, bucket, size); why != "" {
				t.Fatalf("verifies, but %s", why)
			}
		}

		// 2. P1's form, one field changed or dropped.
		form = ossP1Fields()
		switch {
		case field == "":
		case drop:
			delete(form, field)
		default:
			form[field] = value
		}
		size, err = seam.verifyPostForm(form, form["key"], bucket)
		checkOSSCoded(t, "verifyPostForm (P1 changed)", err, ossP1Key.SecretKey)
		if err != nil {
			return
		}
		if size != (sizeRange{1, 10}) {
			t.Fatalf("P1 verifies with %s=%q (dropped %v) and size range %+v; it allowed 1-10", field, value, drop, size)
		}
		for name := range pinned {
			if got, ok := form[name]; !ok || got != p1[name] {
				t.Fatalf("P1 verifies with %s=%q (present %v); it pinned %q", name, got, ok, p1[name])
			}
		}
		if !strings.EqualFold(form["x-oss-signature"], ossP1Signature) {
			t.Fatalf("P1 verifies with x-oss-signature %q", form["x-oss-signature"])
		}
		if !strings.HasPrefix(form["key"], "user/eric/") ||
			!slices.Contains([]string{"image/jpg", "image/png"}, form["content-type"]) || form["cache-control"] == "no-cache" {
			t.Fatalf("P1 verifies with key %q, content-type %q, cache-control %q", form["key"], form["content-type"], form["cache-control"])
		}
	})
}
