package deploy

// The bucket setup of the providers beside COS, Aliyun OSS (storage/oss) and
// S3-compatible stores (storage/s3), kept in step with their code as
// deploy_test.go keeps COS's: the credentials' policy grants exactly what
// the provider's client asks of the store, on the prefixes that need it; the
// bucket policy publishes the avatars and no upload key; CORS lets a browser
// send what SignUpload signs; the lifecycle rule reaches uploads/ only; the
// mini program's domain allow-list names the hosts SignUpload's URLs go to.
// And the examples (Kubernetes, systemd, Docker) show how to switch to each
// provider with settings that exist.

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
	"github.com/wxavatar/wxavatar/storage/oss"
	"github.com/wxavatar/wxavatar/storage/s3"
)

const (
	ossSetupHeading = "## Bucket setup: Aliyun OSS (`STORAGE=oss`)"
	s3SetupHeading  = "## Bucket setup: S3-compatible stores (`STORAGE=s3`)"
	minioHeading    = "### MinIO"
	r2Heading       = "### Cloudflare R2"
)

// ---- what cmd/wxavatar reads --------------------------------------------

// providerConfig is what cmd/wxavatar/config.go reads for one STORAGE value.
type providerConfig struct {
	required []string // settings without which a production start fails, secrets included
	secrets  []string // the credentials, each also NAME_FILE
	settings []string // all of them (storageSettings), for the warning about another provider's
	// defaultHost builds the endpoint's host config.go uses when none is set.
	defaultHost keyTemplate
}

// storageConfigs reads the storageProviders table in config.go: each
// provider's settings (its fields, the credentials' _FILE forms, extra),
// which ones a production start requires (bucket, region, key id, secret),
// which are credentials (key id, secret, token), and the default endpoint's
// host (defaultHost's returned expression); and the default provider, from
// loadStorage's p.str("STORAGE", <default>, …).
func storageConfigs(t *testing.T) (map[string]*providerConfig, string) {
	t.Helper()
	const file = "../cmd/wxavatar/config.go"
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	str := func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			return s, e.Kind == token.STRING && err == nil
		case *ast.Ident:
			s, ok := consts[e.Name]
			return s, ok
		}
		return "", false
	}
	configs := map[string]*providerConfig{}
	def := ""
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl: // var storageProviders = map[string]storageProvider{providerCOS: {…}, …}
			for _, spec := range d.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "storageProviders" || len(vs.Values) != 1 {
					continue
				}
				lit, ok := vs.Values[0].(*ast.CompositeLit)
				if !ok {
					t.Fatalf("%s: storageProviders is not a map literal; update storageConfigs", file)
				}
				for _, el := range lit.Elts {
					kv := el.(*ast.KeyValueExpr)
					provider, ok := str(kv.Key)
					fields, ok2 := kv.Value.(*ast.CompositeLit)
					if !ok || !ok2 {
						t.Fatalf("%s: storageProviders: want provider: {field: value, …}", file)
					}
					pc := &providerConfig{}
					configs[provider] = pc
					for _, fe := range fields.Elts {
						fkv := fe.(*ast.KeyValueExpr)
						field := fkv.Key.(*ast.Ident).Name
						switch field {
						case "bucket", "region", "keyID", "secret", "token", "endpoint", "timeout":
							name, ok := str(fkv.Value)
							if !ok {
								t.Fatalf("%s: storageProviders[%s].%s is no string literal", file, provider, field)
							}
							pc.settings = append(pc.settings, name)
							switch field {
							case "keyID", "secret", "token":
								pc.secrets = append(pc.secrets, name)
								pc.settings = append(pc.settings, name+"_FILE")
							}
							switch field {
							case "bucket", "region", "keyID", "secret":
								pc.required = append(pc.required, name)
							}
						case "extra":
							for _, n := range fkv.Value.(*ast.CompositeLit).Elts {
								name, ok := str(n)
								if !ok {
									t.Fatalf("%s: storageProviders[%s].extra holds a name that is no string literal", file, provider)
								}
								pc.settings = append(pc.settings, name)
							}
						case "defaultHost": // func(bucket, region string) string { return bucket + ".cos." + … }
							fn, ok := fkv.Value.(*ast.FuncLit)
							if !ok || len(fn.Body.List) != 1 {
								t.Fatalf("%s: storageProviders[%s].defaultHost is not a one-line function literal; update storageConfigs", file, provider)
							}
							ret := fn.Body.List[0].(*ast.ReturnStmt)
							var flatten func(e ast.Expr) bool
							flatten = func(e ast.Expr) bool {
								switch e := e.(type) {
								case *ast.BinaryExpr:
									return e.Op == token.ADD && flatten(e.X) && flatten(e.Y)
								case *ast.BasicLit:
									s, err := strconv.Unquote(e.Value)
									pc.defaultHost = append(pc.defaultHost, struct{ lit, expr string }{lit: s})
									return err == nil
								case *ast.Ident: // the parameters bucket and region
									pc.defaultHost = append(pc.defaultHost, struct{ lit, expr string }{expr: strings.ToUpper(e.Name[:1]) + e.Name[1:]})
									return true
								}
								return false
							}
							if len(ret.Results) != 1 || !flatten(ret.Results[0]) {
								t.Fatalf("%s: storageProviders[%s].defaultHost does not return literals and its parameters joined by +; update storageConfigs", file, provider)
							}
						}
					}
				}
			}
		case *ast.FuncDecl:
			if d.Name.Name != "loadStorage" {
				continue
			}
			ast.Inspect(d, func(n ast.Node) bool {
				// p.str("STORAGE", providerCOS, false): the default provider.
				if call, ok := n.(*ast.CallExpr); ok && len(call.Args) == 3 {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "str" {
						if name, _ := str(call.Args[0]); name == "STORAGE" {
							def, _ = str(call.Args[1])
						}
					}
				}
				return true
			})
		}
	}
	for _, p := range []string{"cos", "oss", "s3"} {
		pc := configs[p]
		if pc == nil || len(pc.secrets) == 0 || len(pc.settings) == 0 || pc.defaultHost == nil {
			t.Fatalf("%s: found no settings, credentials or default endpoint for STORAGE=%s; update storageConfigs", file, p)
		}
	}
	if def == "" {
		t.Fatalf("%s: no p.str(\"STORAGE\", <default>, …) in loadStorage; update storageConfigs", file)
	}
	return configs, def
}

// host is the default endpoint's host for bucket and region.
func (pc *providerConfig) host(bucket, region string) string {
	var b strings.Builder
	for _, p := range pc.defaultHost {
		switch p.expr {
		case "":
			b.WriteString(p.lit)
		case "Bucket":
			b.WriteString(bucket)
		case "Region":
			b.WriteString(region)
		default:
			return "<" + p.expr + ">"
		}
	}
	return b.String()
}

// providerOf is the provider a setting belongs to ("" for none).
func providerOf(configs map[string]*providerConfig, name string) string {
	for p, pc := range configs {
		if slices.Contains(pc.settings, name) {
			return p
		}
	}
	return ""
}

// secretFile is the file every example keeps a credential in: its setting's
// name in lower case (cos_secret_id for COS_SECRET_ID).
func secretFile(name string) string { return strings.ToLower(name) }

// TestSecretSettingsFollowConfig: secretSettings, which the manifests' checks
// use, names exactly the settings config.go reads with p.secret (each may
// come from NAME_FILE and is reread on SIGHUP).
func TestSecretSettingsFollowConfig(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../cmd/wxavatar/config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The secrets read by name, and the storage providers' credentials,
	// read through their table (storageConfigs).
	var read []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "secret" {
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				read = append(read, s)
			}
		}
		return true
	})
	configs, _ := storageConfigs(t)
	for _, pc := range configs {
		read = append(read, pc.secrets...)
	}
	slices.Sort(read)
	listed := slices.Clone(secretSettings)
	slices.Sort(listed)
	if len(read) < 5 || !slices.Equal(read, listed) {
		t.Errorf("cmd/wxavatar/config.go reads the secrets %q; deploy_test.go's secretSettings lists %q", read, listed)
	}
}

// ---- the policies ---------------------------------------------------------

// iamPolicy is the policy language OSS (RAM policies, bucket policies) and S3
// (IAM and bucket policies) share: Version, Statement, Effect, Principal,
// Action, Resource, Condition. Anything else (NotAction, NotResource, …)
// fails decoding: the test refuses what it does not understand.
type iamPolicy struct {
	Version   string `json:"Version"`
	ID        string `json:"Id"`
	Statement []struct {
		Sid       string                           `json:"Sid"`
		Effect    string                           `json:"Effect"`
		Principal json.RawMessage                  `json:"Principal"`
		Action    stringList                       `json:"Action"`
		Resource  stringList                       `json:"Resource"`
		Condition map[string]map[string]stringList `json:"Condition"`
	} `json:"Statement"`
}

// storePolicies is how one provider writes its policies: the version, the
// action namespace, the resource of the bucket (its keys are bucket + "/" +
// key), and the principal that means anyone.
type storePolicies struct {
	name      string // for messages: "the RAM policy"
	version   string
	namespace string
	bucket    string
	anyone    func(principal json.RawMessage) bool
}

var ossPolicies = storePolicies{
	name: "the RAM policy", version: "1", namespace: "oss:", bucket: "acs:oss:*:*:<bucket>",
	// "Principal": ["*"] (OSS, "Authorization syntax and elements").
	anyone: func(p json.RawMessage) bool {
		var l []string
		return json.Unmarshal(p, &l) == nil && slices.Equal(l, []string{"*"})
	},
}

var s3Policies = storePolicies{
	name: "the IAM policy", version: "2012-10-17", namespace: "s3:", bucket: "arn:aws:s3:::<bucket>",
	// "Principal": "*" or {"AWS": "*"} (IAM JSON policy elements: Principal).
	anyone: func(p json.RawMessage) bool {
		var s string
		if json.Unmarshal(p, &s) == nil {
			return s == "*"
		}
		var m map[string]stringList
		return json.Unmarshal(p, &m) == nil && len(m) == 1 && slices.Equal(m["AWS"], []string{"*"})
	},
}

// covers reads a resource as COS's test does: the bucket itself, a whole key,
// or a prefix ending in * (the only forms the policies use).
func (sp storePolicies) covers(resource string, k keyKind, key string) bool {
	if k == theBucket {
		return resource == sp.bucket
	}
	name := sp.bucket + "/" + key
	if p, ok := strings.CutSuffix(resource, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return resource == name
}

// parse decodes a policy block and checks its form: the version, allows
// only, actions of the namespace without wildcards, resources of the bucket
// with a * at their end only.
func (sp storePolicies) parse(t *testing.T, where, block string) iamPolicy {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(block))
	dec.DisallowUnknownFields()
	var p iamPolicy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: not a policy this test understands: %v", where, err)
	}
	if p.Version != sp.version || len(p.Statement) == 0 {
		t.Errorf("%s: want Version %q and statements", where, sp.version)
	}
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			t.Errorf("%s: Effect %q; these policies only allow", where, s.Effect)
		}
		if len(s.Action) == 0 || len(s.Resource) == 0 {
			t.Errorf("%s: a statement without Action or Resource", where)
		}
		for _, a := range s.Action {
			if !strings.HasPrefix(a, sp.namespace) || strings.Contains(a, "*") {
				t.Errorf("%s: action %q: want one %s<Action>, no wildcard", where, a, sp.namespace)
			}
		}
		for _, r := range s.Resource {
			if r != sp.bucket && !strings.HasPrefix(r, sp.bucket+"/") {
				t.Errorf("%s: resource %q is neither %s nor a key of it (the placeholder is <bucket>)", where, r, sp.bucket)
			}
			// The bucket's own * (OSS's any region and account) aside.
			if strings.Contains(strings.TrimSuffix(strings.TrimPrefix(r, sp.bucket), "*"), "*") {
				t.Errorf("%s: resource %q has a * before its end; the policies use whole keys and prefixes", where, r)
			}
		}
	}
	return p
}

// checkGrants checks that policy p grants every grant of need, each on
// resources that cover all its keys, and nothing else: no action nothing
// needs, no resource no need of its action touches, none reaching past the
// fixed prefix of the keys it serves, no condition.
func (sp storePolicies) checkGrants(t *testing.T, p iamPolicy, need []grant, keys bucketKeys) {
	t.Helper()
	coversAll := func(r string, k keyKind) bool {
		if k == theBucket {
			return sp.covers(r, k, "")
		}
		for _, key := range keys.samples[k] {
			if !sp.covers(r, k, key) {
				return false
			}
		}
		return true
	}
	describe := func(k keyKind) string {
		if k == theBucket {
			return "the bucket (" + sp.bucket + ")"
		}
		return keys.describe(k)
	}
	needed := map[string]bool{}
	for _, g := range need {
		needed[g.action] = true
		ok := false
		for _, s := range p.Statement {
			for _, r := range s.Resource {
				ok = ok || slices.Contains(s.Action, g.action) && coversAll(r, g.keys)
			}
		}
		if !ok {
			t.Errorf("%s does not grant %s on %s, which the code needs", sp.name, g.action, describe(g.keys))
		}
	}
	for _, s := range p.Statement {
		if s.Principal != nil {
			t.Errorf("%s names a principal: the identity's policy names none", sp.name)
		}
		if s.Condition != nil {
			t.Errorf("%s has a condition (%v): check by hand that it still allows what the code does, then teach this test", sp.name, s.Condition)
		}
		for _, a := range s.Action {
			if !needed[a] {
				t.Errorf("%s grants %s, which nothing the code does needs", sp.name, a)
			}
			for _, r := range s.Resource {
				used := false
				for _, g := range need {
					if g.action != a {
						continue
					}
					if g.keys == theBucket {
						used = used || sp.covers(r, theBucket, "")
						continue
					}
					for _, key := range keys.samples[g.keys] {
						if !sp.covers(r, g.keys, key) {
							continue
						}
						used = true
						if lit := keys.templates[g.keys].literalPrefix(); !strings.HasPrefix(strings.TrimSuffix(r, "*"), sp.bucket+"/"+lit) {
							t.Errorf("%s: %s on %s reaches past %s*, the keys it is needed for (%s)", sp.name, a, r, lit, describe(g.keys))
						}
						break
					}
				}
				if !used {
					t.Errorf("%s grants %s on %s, which no request of the code touches", sp.name, a, r)
				}
			}
		}
	}
}

// checkPublishes checks a bucket policy that publishes objects: GetObject
// only, on every avatar and thumbnail key, on no upload key.
func (sp storePolicies) checkPublishes(t *testing.T, name string, p iamPolicy, keys bucketKeys) {
	t.Helper()
	uploads := sp.bucket + "/" + keys.templates[uploadKeys].literalPrefix()
	for _, s := range p.Statement {
		if !slices.Equal(s.Action, []string{sp.namespace + "GetObject"}) {
			t.Errorf("%s grants %q, want %sGetObject only", name, s.Action, sp.namespace)
		}
		for _, r := range s.Resource {
			for _, key := range keys.samples[uploadKeys] {
				if sp.covers(r, uploadKeys, key) {
					t.Errorf("%s's %s publishes the upload key %s, whose bytes nobody checked", name, r, key)
				}
			}
			if p, ok := strings.CutSuffix(r, "*"); ok && strings.HasPrefix(p, uploads) {
				t.Errorf("%s's %s publishes upload keys", name, r)
			}
		}
	}
	for _, k := range []keyKind{avatarKeys, thumbKeys} {
		for _, key := range keys.samples[k] {
			published := false
			for _, s := range p.Statement {
				for _, r := range s.Resource {
					published = published || sp.covers(r, k, key)
				}
			}
			if !published {
				t.Errorf("%s does not publish %s, of %s", name, key, keys.describe(k))
			}
		}
	}
}

// sdkCall is a call on the provider SDK's client in storage/<provider>/, by
// method name, with where it is.
type sdkCall struct{ method, at string }

// providerSDKCalls lists the calls in dir's non-test files on the SDK's
// client: methods of an expression ending in one of fields (the Client of
// a storage.Keyed pair), or of a variable assigned from one of constructors
// (mc := minio.New(…)).
func providerSDKCalls(t *testing.T, dir string, fields, constructors []string) []sdkCall {
	t.Helper()
	fset, files := parseSources(t, dir)
	var calls []sdkCall
	for _, f := range files {
		clients := map[string]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Rhs) == 1 {
				if call, ok := as.Rhs[0].(*ast.CallExpr); ok {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
						if pkg, ok := sel.X.(*ast.Ident); ok && slices.Contains(constructors, pkg.Name+"."+sel.Sel.Name) {
							if id, ok := as.Lhs[0].(*ast.Ident); ok {
								clients[id.Name] = true
							}
						}
					}
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			method, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch x := method.X.(type) {
			case *ast.SelectorExpr:
				if !slices.Contains(fields, x.Sel.Name) {
					return true
				}
			case *ast.Ident:
				if !clients[x.Name] {
					return true
				}
			default:
				return true
			}
			calls = append(calls, sdkCall{method.Sel.Name, fset.Position(call.Pos()).String()})
			return true
		})
	}
	if len(calls) == 0 {
		t.Fatalf("found no SDK call in %s: update providerSDKCalls", dir)
	}
	return calls
}

// providerCode is what the test knows of a provider's client: which
// actions each SDK call needs, on which keys, and which each request a
// SignedUpload field signs for a client needs.
type providerCode struct {
	dir            string
	fields, ctors  []string
	calls          map[string][]grant
	signed         map[string][]grant
	policies       storePolicies
	extra          func(name string) (action string, known bool)
	sectionHeading string
}

// ossCode: storage/oss calls Aliyun's SDK on the Client of a storage.Keyed
// pair (c.keys.For(ctx).Client, k.Client). Actions
// per API from OSS's permission tables (PutObject, GetObject, DeleteObject,
// GetBucketInfo, PostObject: "you must have the oss:PutObject permission").
var ossCode = providerCode{
	dir: "../storage/oss", fields: []string{"Client"},
	calls: map[string][]grant{
		// Peek: confirm's ranged read of the upload.
		"GetObject": {{"oss:GetObject", uploadKeys}},
		// Put: the avatar and the thumbnail confirm re-encodes.
		"PutObject": {{"oss:PutObject", avatarKeys}, {"oss:PutObject", thumbKeys}},
		// Delete: rejects, confirmed uploads, the sweeper; replaced avatars
		// and thumbnails, and those a confirm that lost a race wrote.
		"DeleteObject": {{"oss:DeleteObject", uploadKeys}, {"oss:DeleteObject", avatarKeys}, {"oss:DeleteObject", thumbKeys}},
		// Ping: /readyz.
		"GetBucketInfo": {{"oss:GetBucketInfo", theBucket}},
		// Signs the PUT locally, no request: the PUT is the client's (signed).
		"Presign": nil,
	},
	signed: map[string][]grant{
		"PostURL": {{"oss:PutObject", uploadKeys}}, "PostForm": nil,
		"PutURL": {{"oss:PutObject", uploadKeys}}, "PutHeaders": nil,
	},
	policies: ossPolicies,
	// A field or header of the upload that needs more than oss:PutObject
	// (OSS's PutObject permission table): tags, KMS encryption. The object
	// ACL needs nothing more.
	extra: func(name string) (string, bool) {
		switch n := strings.ToLower(name); {
		case n == "x-oss-tagging":
			return "oss:PutObjectTagging", true
		case strings.HasPrefix(n, "x-oss-server-side-"):
			return "", false
		}
		return "", true
	},
	sectionHeading: ossSetupHeading,
}

// s3Code: storage/s3 calls minio-go on the Client (minio.Core) of a
// storage.Keyed pair and on the
// client minio.New returns. Actions per API from S3's documentation:
// HeadBucket needs s3:ListBucket; GetObject needs s3:GetObject, and
// s3:ListBucket for a missing key to be 404 (ErrNotFound, 409
// upload_missing) rather than 403.
var s3Code = providerCode{
	dir: "../storage/s3", fields: []string{"Client"}, ctors: []string{"minio.New"},
	calls: map[string][]grant{
		// Peek: confirm's ranged read of the upload, 404 when it is missing.
		"GetObject": {{"s3:GetObject", uploadKeys}, {"s3:ListBucket", theBucket}},
		// Put: the avatar and the thumbnail confirm re-encodes.
		"PutObject": {{"s3:PutObject", avatarKeys}, {"s3:PutObject", thumbKeys}},
		// Delete: rejects, confirmed uploads, the sweeper; replaced avatars
		// and thumbnails, and those a confirm that lost a race wrote.
		"RemoveObject": {{"s3:DeleteObject", uploadKeys}, {"s3:DeleteObject", avatarKeys}, {"s3:DeleteObject", thumbKeys}},
		// Ping: HEAD bucket.
		"BucketExists": {{"s3:ListBucket", theBucket}},
		// Signed locally, no request: New's probe of the bucket's URL, the
		// PUT and the POST policy, whose requests are the client's (signed).
		"Presign": nil, "PresignHeader": nil, "PresignedPostPolicy": nil,
		// The client's own setting.
		"SetS3EnableDualstack": nil,
	},
	signed: map[string][]grant{
		"PostURL": {{"s3:PutObject", uploadKeys}}, "PostForm": nil,
		"PutURL": {{"s3:PutObject", uploadKeys}}, "PutHeaders": nil,
	},
	policies: s3Policies,
	// A field or header of the upload that needs more than s3:PutObject: an
	// ACL (s3:PutObjectAcl), tags (s3:PutObjectTagging), KMS encryption.
	extra: func(name string) (string, bool) {
		switch n := strings.ToLower(name); {
		case n == "acl" || n == "x-amz-acl" || strings.HasPrefix(n, "x-amz-grant-"):
			return "s3:PutObjectAcl", true
		case n == "tagging" || n == "x-amz-tagging":
			return "s3:PutObjectTagging", true
		case strings.HasPrefix(n, "x-amz-server-side-encryption"):
			return "", false
		}
		return "", true
	},
	sectionHeading: s3SetupHeading,
}

// productionSigned signs one upload the way a production configuration of
// the provider does (the default endpoint config.go builds, STS credentials,
// a declared size), with no network.
func productionSigned(t *testing.T, provider string) storage.SignedUpload {
	t.Helper()
	configs, _ := storageConfigs(t)
	cred := storage.Credentials{SecretID: "AKIDexample", SecretKey: "example-secret", SessionToken: "example-token"}
	var c interface {
		SignUpload(context.Context, storage.UploadSpec) (storage.SignedUpload, error)
	}
	var err error
	switch provider {
	case "cos":
		c, err = cos.NewClient(cos.Config{Bucket: "avatars-1250000000",
			BucketURL:   &url.URL{Scheme: "https", Host: configs["cos"].host("avatars-1250000000", "ap-guangzhou")},
			Credentials: cred})
	case "oss":
		c, err = oss.New(oss.Config{Endpoint: &url.URL{Scheme: "https", Host: configs["oss"].host("wxavatar-avatars", "cn-hangzhou")},
			Bucket: "wxavatar-avatars", Region: "cn-hangzhou", Credentials: cred})
	case "s3":
		c, err = s3.New(s3.Config{Endpoint: &url.URL{Scheme: "https", Host: configs["s3"].host("wxavatar-avatars", "us-east-1")},
			Bucket: "wxavatar-avatars", Region: "us-east-1", PostPolicy: true, Credentials: cred})
	default:
		t.Fatalf("no production configuration of %s", provider)
	}
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	signed, err := c.SignUpload(context.Background(), storage.UploadSpec{
		Key: "uploads/u/x.png", ContentType: "image/png", MaxBytes: 1 << 20, Size: 1000,
		NotBefore: now, Expires: now.Add(10 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if signed.PostURL == "" || signed.PutURL == "" {
		t.Fatalf("%s: a production signature without POST or PUT: %+v", provider, signed)
	}
	return signed
}

// neededGrants is every (action, keys) the provider's code needs: its SDK
// calls, the requests a client makes with what SignUpload signs, and what
// the signed fields and headers add.
func (pc providerCode) neededGrants(t *testing.T, provider string) []grant {
	t.Helper()
	var need []grant
	for _, call := range providerSDKCalls(t, pc.dir, pc.fields, pc.ctors) {
		g, ok := pc.calls[call.method]
		if !ok {
			t.Errorf("%s calls the SDK's %s: which action does it need? Add it to providers_test.go (%s) and to the policy in deploy/README.md", call.at, call.method, provider)
		}
		need = append(need, g...)
	}
	signed := reflect.ValueOf(productionSigned(t, provider))
	for i := 0; i < signed.NumField(); i++ {
		name := signed.Type().Field(i).Name
		g, ok := pc.signed[name]
		if !ok {
			t.Errorf("storage.SignedUpload.%s: which request does it sign? Add it to providers_test.go (%s) and its action to the policy in deploy/README.md", name, provider)
		}
		if !signed.Field(i).IsZero() {
			need = append(need, g...)
		}
	}
	upload := signed.Interface().(storage.SignedUpload)
	for _, fields := range []map[string]string{upload.PostForm, upload.PutHeaders} {
		for name := range fields {
			action, known := pc.extra(name)
			if !known {
				t.Errorf("%s: the signed upload carries %s, which needs KMS permissions: teach providers_test.go and the policy in deploy/README.md", provider, name)
			}
			if action != "" {
				need = append(need, grant{action, uploadKeys})
			}
		}
	}
	return need
}

// providerPolicies parses the JSON policy blocks of a provider's section:
// the identity's (no principal) and the bucket policies (a principal in every
// statement). JSON blocks that are no policy (S3's CORS and lifecycle) are
// left out.
func providerPolicies(t *testing.T, sp storePolicies, heading string) (service iamPolicy, bucket []iamPolicy) {
	t.Helper()
	n := 0
	for i, b := range sectionBlocks(t, readmeSection(t, heading), "json") {
		var probe map[string]json.RawMessage
		if json.Unmarshal([]byte(b.text), &probe) != nil || probe["Statement"] == nil {
			continue
		}
		where := heading + ", JSON block " + strconv.Itoa(i+1)
		p := sp.parse(t, where, b.text)
		principals := 0
		for _, s := range p.Statement {
			if s.Principal != nil {
				principals++
			}
		}
		switch principals {
		case 0:
			service = p
			n++
		case len(p.Statement):
			bucket = append(bucket, p)
		default:
			t.Errorf("%s: some statements name a principal and some do not", where)
		}
	}
	if n != 1 || len(bucket) == 0 {
		t.Fatalf("%s: want one policy for the service's credentials (no principal) and a bucket policy, have %d and %d", heading, n, len(bucket))
	}
	return service, bucket
}

// TestProviderPolicies keeps the OSS and S3 policies in deploy/README.md in
// step with storage/oss and storage/s3: the credentials' policy grants
// exactly what the client's SDK calls and the signed uploads need, each on
// the prefix of the keys that need it; every bucket policy publishes the
// avatars and thumbnails and no upload key.
func TestProviderPolicies(t *testing.T) {
	keys := readBucketKeys(t)
	for provider, pc := range map[string]providerCode{"oss": ossCode, "s3": s3Code} {
		t.Run(provider, func(t *testing.T) {
			service, bucket := providerPolicies(t, pc.policies, pc.sectionHeading)
			pc.policies.checkGrants(t, service, pc.neededGrants(t, provider), keys)
			for i, p := range bucket {
				name := "bucket policy " + strconv.Itoa(i+1)
				for _, s := range p.Statement {
					switch {
					case pc.policies.anyone(s.Principal):
						if s.Condition != nil {
							t.Errorf("%s has a condition (%v): check by hand what it publishes, then teach this test", name, s.Condition)
						}
					case provider == "s3" && cloudFrontReads(s.Principal, s.Condition):
						// Origin access control: the distribution reads, and serves to anyone.
					default:
						t.Errorf("%s: principal %s: want anyone (or, on S3, CloudFront for one distribution)", name, s.Principal)
					}
				}
				pc.policies.checkPublishes(t, name, p, keys)
			}
			// The section names the key layout it sets up.
			section := readmeSection(t, pc.sectionHeading)
			for _, prefix := range []string{keys.templates[uploadKeys].literalPrefix(), keys.templates[avatarKeys].literalPrefix()} {
				if !strings.Contains(section, "`"+prefix+"*`") {
					t.Errorf("%s does not name `%s*`", pc.sectionHeading, prefix)
				}
			}
		})
	}
}

// cloudFrontReads reports whether a bucket policy statement grants the
// CloudFront service principal, for one distribution alone (origin access
// control: "Principal": {"Service": "cloudfront.amazonaws.com"}, condition
// StringEquals AWS:SourceArn the distribution's ARN).
func cloudFrontReads(principal json.RawMessage, cond map[string]map[string]stringList) bool {
	var p map[string]stringList
	if json.Unmarshal(principal, &p) != nil || len(p) != 1 || !slices.Equal(p["Service"], []string{"cloudfront.amazonaws.com"}) {
		return false
	}
	arn := cond["StringEquals"]["AWS:SourceArn"]
	return len(cond) == 1 && len(cond["StringEquals"]) == 1 && len(arn) == 1 &&
		regexp.MustCompile(`^arn:aws:cloudfront::<account>:distribution/<distribution>$`).MatchString(arn[0])
}

// ---- CORS -----------------------------------------------------------------

// corsRule is one CORS rule, whichever way the provider writes it.
type corsRule struct{ origins, methods, headers, expose []string }

// xmlCORS is the S3-style XML both OSS (PutBucketCors) and MinIO (mc cors
// set) take; elements the test does not know fail it.
type xmlCORS struct {
	XMLName xml.Name `xml:"CORSConfiguration"`
	Rules   []struct {
		AllowedOrigin []string    `xml:"AllowedOrigin"`
		AllowedMethod []string    `xml:"AllowedMethod"`
		AllowedHeader []string    `xml:"AllowedHeader"`
		ExposeHeader  []string    `xml:"ExposeHeader"`
		MaxAgeSeconds int         `xml:"MaxAgeSeconds"`
		ID            string      `xml:"ID"`
		Other         xmlElements `xml:",any"`
	} `xml:"CORSRule"`
	Other xmlElements `xml:",any"` // ResponseVary: harmless, but say so first
}

// jsonCORS is the JSON the AWS console and Cloudflare R2's dashboard take.
type jsonCORS []struct {
	ID             string   `json:"ID"`
	AllowedOrigins []string `json:"AllowedOrigins"`
	AllowedMethods []string `json:"AllowedMethods"`
	AllowedHeaders []string `json:"AllowedHeaders"`
	ExposeHeaders  []string `json:"ExposeHeaders"`
	MaxAgeSeconds  int      `json:"MaxAgeSeconds"`
}

// sectionCORS returns every CORS configuration in a provider's section, each
// a list of rules, by where it is.
func sectionCORS(t *testing.T, heading string) map[string][]corsRule {
	t.Helper()
	out := map[string][]corsRule{}
	section := readmeSection(t, heading)
	for i, b := range sectionBlocks(t, section, "xml") {
		var root struct{ XMLName xml.Name }
		if err := xml.Unmarshal([]byte(b.text), &root); err != nil {
			t.Fatalf("%s, XML block %d: %v", heading, i+1, err)
		}
		if root.XMLName.Local != "CORSConfiguration" {
			continue
		}
		var c xmlCORS
		if err := xml.Unmarshal([]byte(b.text), &c); err != nil {
			t.Fatalf("%s, XML block %d: %v", heading, i+1, err)
		}
		where := strings.TrimSpace(heading+" "+b.sub) + ", XML block " + strconv.Itoa(i+1)
		if len(c.Other) > 0 {
			t.Errorf("%s: %s: teach this test what it does", where, strings.Join(c.Other.names(), ", "))
		}
		for _, r := range c.Rules {
			if len(r.Other) > 0 {
				t.Errorf("%s: %s: teach this test what it does", where, strings.Join(r.Other.names(), ", "))
			}
			out[where] = append(out[where], corsRule{r.AllowedOrigin, r.AllowedMethod, r.AllowedHeader, r.ExposeHeader})
		}
	}
	for i, b := range sectionBlocks(t, section, "json") {
		if !strings.HasPrefix(strings.TrimSpace(b.text), "[") {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(b.text))
		dec.DisallowUnknownFields()
		var c jsonCORS
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s, JSON block %d: not a CORS configuration this test understands: %v", heading, i+1, err)
		}
		where := strings.TrimSpace(heading+" "+b.sub) + ", JSON block " + strconv.Itoa(i+1)
		for _, r := range c {
			out[where] = append(out[where], corsRule{r.AllowedOrigins, r.AllowedMethods, r.AllowedHeaders, r.ExposeHeaders})
		}
	}
	return out
}

// checkCORS: a browser may send, to the bucket, every request signed
// carries, with every header it makes the client send, and read the ETag;
// and GET and HEAD the avatars.
func checkCORS(t *testing.T, where string, rules []corsRule, signed storage.SignedUpload) {
	t.Helper()
	var methods []string
	if signed.PostURL != "" {
		methods = append(methods, "POST")
	}
	if signed.PutURL != "" {
		methods = append(methods, "PUT")
	}
	methods = append(methods, "GET", "HEAD")
	for _, m := range methods {
		n := 0
		for _, r := range rules {
			if !slices.Contains(r.methods, m) {
				continue
			}
			n++
			if len(r.origins) == 0 {
				t.Errorf("%s: the rule for %s allows no origin", where, m)
			}
			if !slices.ContainsFunc(r.expose, func(h string) bool { return strings.EqualFold(h, "ETag") }) {
				t.Errorf("%s: the rule for %s does not expose ETag", where, m)
			}
			if m != "PUT" {
				continue
			}
			for h := range signed.PutHeaders {
				// Content-Length is the browser's own: never preflighted.
				if strings.EqualFold(h, "Content-Length") || strings.EqualFold(h, "Host") {
					continue
				}
				if !slices.ContainsFunc(r.headers, func(a string) bool { return a == "*" || strings.EqualFold(a, h) }) {
					t.Errorf("%s: the PUT rule does not allow the header %s, which the signed PUT makes the client send (PutHeaders)", where, h)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no rule allows %s", where, m)
		}
	}
}

// TestProviderCORS: every CORS configuration of the OSS and S3 sections lets
// a browser send what the provider's SignUpload signs.
func TestProviderCORS(t *testing.T) {
	for provider, heading := range map[string]string{"oss": ossSetupHeading, "s3": s3SetupHeading} {
		t.Run(provider, func(t *testing.T) {
			signed := productionSigned(t, provider)
			all := sectionCORS(t, heading)
			if len(all) == 0 {
				t.Fatalf("%s: no CORS configuration", heading)
			}
			for where, rules := range all {
				checkCORS(t, where, rules, signed)
			}
		})
	}
}

// ---- lifecycle ------------------------------------------------------------

// lifeRule is one lifecycle rule, whichever way the provider writes it.
type lifeRule struct {
	id, status string
	prefix     string // "" is the whole bucket
	other      []string
	expireDays int // 0: no expiration
	abortDays  int // 0: no abort of unfinished multipart uploads
}

// ossLifecycle is PutBucketLifecycle's XML: a prefix in the rule, Expiration
// and AbortMultipartUpload in days (or CreatedBeforeDate, which the test
// refuses). Tags, Not filters, transitions and the like land in Other.
type ossLifecycle struct {
	XMLName xml.Name `xml:"LifecycleConfiguration"`
	Rules   []struct {
		ID         string  `xml:"ID"`
		Prefix     *string `xml:"Prefix"`
		Status     string  `xml:"Status"`
		Expiration *struct {
			Days  int         `xml:"Days"`
			Other xmlElements `xml:",any"`
		} `xml:"Expiration"`
		AbortMultipartUpload *struct {
			Days  int         `xml:"Days"`
			Other xmlElements `xml:",any"`
		} `xml:"AbortMultipartUpload"`
		Other xmlElements `xml:",any"`
	} `xml:"Rule"`
}

// s3Lifecycle is PutBucketLifecycleConfiguration's JSON (the AWS CLI's);
// decoding refuses every field it does not name: tags, size filters, And,
// transitions, noncurrent versions, dates.
type s3Lifecycle struct {
	Rules []struct {
		ID     string `json:"ID"`
		Status string `json:"Status"`
		Prefix *string
		Filter *struct {
			Prefix *string `json:"Prefix"`
		} `json:"Filter"`
		Expiration *struct {
			Days int `json:"Days"`
		} `json:"Expiration"`
		AbortIncompleteMultipartUpload *struct {
			DaysAfterInitiation int `json:"DaysAfterInitiation"`
		} `json:"AbortIncompleteMultipartUpload"`
	} `json:"Rules"`
}

func sectionLifecycle(t *testing.T, heading string) []lifeRule {
	t.Helper()
	var rules []lifeRule
	n := 0
	section := readmeSection(t, heading)
	for i, b := range sectionBlocks(t, section, "xml") {
		var root struct{ XMLName xml.Name }
		if xml.Unmarshal([]byte(b.text), &root) != nil || root.XMLName.Local != "LifecycleConfiguration" {
			continue
		}
		var l ossLifecycle
		if err := xml.Unmarshal([]byte(b.text), &l); err != nil {
			t.Fatalf("%s, XML block %d: %v", heading, i+1, err)
		}
		n++
		for _, r := range l.Rules {
			lr := lifeRule{id: r.ID, status: r.Status, other: r.Other.names()}
			if r.Prefix != nil {
				lr.prefix = *r.Prefix
			}
			if e := r.Expiration; e != nil {
				lr.expireDays = e.Days
				lr.other = append(lr.other, e.Other.names()...)
				if e.Days < 1 {
					lr.other = append(lr.other, "<Expiration> without <Days>")
				}
			}
			if a := r.AbortMultipartUpload; a != nil {
				lr.abortDays = a.Days
				lr.other = append(lr.other, a.Other.names()...)
			}
			rules = append(rules, lr)
		}
	}
	for i, b := range sectionBlocks(t, section, "json") {
		var probe map[string]json.RawMessage
		if json.Unmarshal([]byte(b.text), &probe) != nil || probe["Rules"] == nil {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(b.text))
		dec.DisallowUnknownFields()
		var l s3Lifecycle
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("%s, JSON block %d: a lifecycle rule this test does not understand (only a prefix filter, Expiration in Days and AbortIncompleteMultipartUpload belong here): %v", heading, i+1, err)
		}
		n++
		for _, r := range l.Rules {
			lr := lifeRule{id: r.ID, status: r.Status}
			switch {
			case r.Filter != nil && r.Prefix != nil:
				lr.other = append(lr.other, "both Filter and Prefix")
			case r.Filter != nil && r.Filter.Prefix != nil:
				lr.prefix = *r.Filter.Prefix
			case r.Prefix != nil:
				lr.prefix = *r.Prefix
			}
			if e := r.Expiration; e != nil {
				lr.expireDays = e.Days
				if e.Days < 1 {
					lr.other = append(lr.other, "Expiration without Days")
				}
			}
			if a := r.AbortIncompleteMultipartUpload; a != nil {
				lr.abortDays = a.DaysAfterInitiation
			}
			rules = append(rules, lr)
		}
	}
	if n != 1 {
		t.Fatalf("%s: want one lifecycle configuration, have %d", heading, n)
	}
	return rules
}

// TestProviderLifecycle: the OSS and S3 sections expire every upload key
// after a day and abort unfinished multipart uploads, and no rule reaches
// an avatar or a thumbnail, whatever its action.
func TestProviderLifecycle(t *testing.T) {
	keys := readBucketKeys(t)
	for provider, heading := range map[string]string{"oss": ossSetupHeading, "s3": s3SetupHeading} {
		t.Run(provider, func(t *testing.T) {
			backstop, abort := false, false
			for _, r := range sectionLifecycle(t, heading) {
				if r.status != "Enabled" {
					t.Errorf("lifecycle rule %s: Status %q, want Enabled", r.id, r.status)
				}
				for _, k := range []keyKind{avatarKeys, thumbKeys} {
					for _, key := range keys.samples[k] {
						if strings.HasPrefix(key, r.prefix) {
							t.Errorf("lifecycle rule %s applies to every key under %q, %s included: no rule may reach avatars/", r.id, r.prefix, key)
							break
						}
					}
					if lit := keys.templates[k].literalPrefix(); strings.HasPrefix(r.prefix, lit) {
						t.Errorf("lifecycle rule %s: prefix %q reaches keys %s", r.id, r.prefix, keys.describe(k))
					}
				}
				if len(r.other) > 0 {
					t.Errorf("lifecycle rule %s: %s: only a prefix, an expiration in days and the abort of multipart uploads belong here (a transition takes an upload out of STANDARD, which confirm refuses)", r.id, strings.Join(r.other, ", "))
				}
				if r.status != "Enabled" || len(r.other) > 0 {
					continue
				}
				all := true
				for _, key := range keys.samples[uploadKeys] {
					all = all && strings.HasPrefix(key, r.prefix)
				}
				backstop = backstop || all && r.expireDays == 1
				abort = abort || r.abortDays >= 1
			}
			if !backstop {
				t.Errorf("%s: want an enabled rule that expires every upload key (prefix %s) after 1 day, as a backstop to the sweeper", heading, keys.templates[uploadKeys].literalPrefix())
			}
			if !abort {
				t.Errorf("%s: want an enabled rule that aborts unfinished multipart uploads", heading)
			}
		})
	}
}

// ---- the mini program's domain allow-list ---------------------------------

// allowList reads the allow-list tables of a section: rows whose first cell
// names a 合法域名 list and whose second is `https://…`, by subsection
// ("" before the first "### ").
func allowList(t *testing.T, section string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	sub := ""
	row := regexp.MustCompile("^\\s*\\|\\s*(\\w+ 合法域名)\\s*\\|\\s*`([^`]+)`\\s*\\|")
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "### ") {
			sub = line
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if out[sub] == nil {
			out[sub] = map[string]string{}
		}
		if prev, ok := out[sub][m[1]]; ok && prev != m[2] {
			t.Errorf("deploy/README.md %s: %s listed twice", sub, m[1])
		}
		out[sub][m[1]] = m[2]
	}
	return out
}

// TestProviderAllowList: the domain allow-list entries each bucket setup
// documents are the scheme and host of the URLs SignUpload hands clients
// for a production configuration of that provider (uploadFile for the POST
// form, request for the PUT; none for a form a store does not take).
func TestProviderAllowList(t *testing.T) {
	configs, _ := storageConfigs(t)
	cred := storage.Credentials{SecretID: "AKIDexample", SecretKey: "example-secret"}
	type signer interface {
		SignUpload(context.Context, storage.UploadSpec) (storage.SignedUpload, error)
	}
	type scenario struct {
		name, heading, sub string
		fill               map[string]string // placeholder → value
		client             func() (signer, error)
	}
	endpoint := func(provider, bucket, region string) *url.URL {
		return &url.URL{Scheme: "https", Host: configs[provider].host(bucket, region)}
	}
	scenarios := []scenario{
		{"cos", cosSetupHeading, "", map[string]string{"<bucket>": "avatars-1250000000", "<region>": "ap-guangzhou"}, func() (signer, error) {
			return cos.NewClient(cos.Config{Bucket: "avatars-1250000000", BucketURL: endpoint("cos", "avatars-1250000000", "ap-guangzhou"), Credentials: cred})
		}},
		{"oss", ossSetupHeading, "", map[string]string{"<bucket>": "wxavatar-avatars", "<region>": "cn-hangzhou"}, func() (signer, error) {
			return oss.New(oss.Config{Endpoint: endpoint("oss", "wxavatar-avatars", "cn-hangzhou"), Bucket: "wxavatar-avatars", Region: "cn-hangzhou", Credentials: cred})
		}},
		{"s3-aws", s3SetupHeading, "", map[string]string{"<bucket>": "wxavatar-avatars", "<region>": "eu-west-1"}, func() (signer, error) {
			return s3.New(s3.Config{Endpoint: endpoint("s3", "wxavatar-avatars", "eu-west-1"), Bucket: "wxavatar-avatars", Region: "eu-west-1", PostPolicy: true, Credentials: cred})
		}},
		{"s3-minio", s3SetupHeading, minioHeading, map[string]string{"<minio host>": "minio.example.com"}, func() (signer, error) {
			return s3.New(s3.Config{Endpoint: &url.URL{Scheme: "https", Host: "minio.example.com"}, Bucket: "wxavatar-avatars", Region: "us-east-1", PathStyle: true, PostPolicy: true, Credentials: cred})
		}},
		{"s3-r2", s3SetupHeading, r2Heading, map[string]string{"<bucket>": "wxavatar-avatars", "<account>": "0123456789abcdef0123456789abcdef"}, func() (signer, error) {
			return s3.New(s3.Config{Endpoint: &url.URL{Scheme: "https", Host: "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"}, Bucket: "wxavatar-avatars", Region: "auto", PostPolicy: false, Credentials: cred})
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c, err := sc.client()
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			signed, err := c.SignUpload(context.Background(), storage.UploadSpec{
				Key: "uploads/u/x.png", ContentType: "image/png", MaxBytes: 1 << 20, Size: 1000,
				NotBefore: now, Expires: now.Add(10 * time.Minute),
			})
			if err != nil {
				t.Fatal(err)
			}
			entries := allowList(t, readmeSection(t, sc.heading))[sc.sub]
			for _, want := range []struct{ list, signedURL, request string }{
				{"uploadFile 合法域名", signed.PostURL, "POST form"},
				{"request 合法域名", signed.PutURL, "PUT"},
			} {
				doc, ok := entries[want.list]
				if want.signedURL == "" {
					if ok {
						t.Errorf("lists %s under %s, but this store's signature has no %s", doc, want.list, want.request)
					}
					continue
				}
				if !ok {
					t.Errorf("no %s entry for the %s (%s)", want.list, want.request, want.signedURL)
					continue
				}
				for placeholder, value := range sc.fill {
					doc = strings.ReplaceAll(doc, placeholder, value)
				}
				u, err := url.Parse(want.signedURL)
				if err != nil {
					t.Fatal(err)
				}
				if origin := u.Scheme + "://" + u.Host; doc != origin || u.Scheme != "https" {
					t.Errorf("%s: the README lists %s, but the %s goes to %s", want.list, doc, want.request, origin)
				}
			}
		})
	}
}

// ---- switching provider in the examples -----------------------------------

// commented is a setting written in a comment: how an example shows a
// provider it does not use.
type commented struct{ name, value, file string }

var (
	commentedEnv  = regexp.MustCompile(`^\s*#\s?([A-Z][A-Z0-9_]*)=(\S*)`)
	commentedYAML = regexp.MustCompile(`^\s*#\s?([A-Z][A-Z0-9_]*):\s*(\S*)`)
	commentedKey  = regexp.MustCompile(`^\s*#\s?([a-z][a-z0-9_]*):\s+\S`)
	dockerSetting = regexp.MustCompile(`-e ([A-Z][A-Z0-9_]*)=(\S+)`)
)

func commentedSettings(t *testing.T, file string, re *regexp.Regexp) []commented {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []commented
	for _, line := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			out = append(out, commented{m[1], strings.Trim(m[2], `"`), file})
		}
	}
	return out
}

// commentedEnvEntries reads the env entries a manifest shows in comments,
// `# - name: X` then `#   value: Y`.
func commentedEnvEntries(t *testing.T, file string) []commented {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []commented
	name := regexp.MustCompile(`^\s*#\s*- name:\s*(\S+)`)
	value := regexp.MustCompile(`^\s*#\s*value:\s*(\S+)`)
	for _, line := range strings.Split(string(b), "\n") {
		if m := name.FindStringSubmatch(line); m != nil {
			out = append(out, commented{name: m[1], file: file})
		} else if m := value.FindStringSubmatch(line); m != nil && len(out) > 0 && out[len(out)-1].value == "" {
			out[len(out)-1].value = m[1]
		}
	}
	return out
}

// TestProviderSwitchInExamples: each example (Kubernetes, systemd, Docker)
// runs the default provider and shows, in comments, the settings, key files
// and secret keys of every other one, all of them settings .env.example
// documents, so that switching is uncommenting: STORAGE, every setting a
// production start requires, each credential from a file where the
// example keeps keys, that file provisioned by the example's commands.
func TestProviderSwitchInExamples(t *testing.T) {
	configs, def := storageConfigs(t)
	known := knownSettings(t)
	secretExample, err := os.ReadFile("kubernetes/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}

	// Every commented setting, in every example, is one wxavatar reads, and
	// no key is written inline.
	all := map[string][]commented{
		"configmap": commentedSettings(t, "kubernetes/configmap.yaml", commentedYAML),
		"systemd":   commentedSettings(t, "systemd/wxavatar.env", commentedEnv),
		"env":       commentedEnvEntries(t, "kubernetes/deployment.yaml"),
	}
	for _, m := range dockerSetting.FindAllStringSubmatch(strings.Join(commentLines(readmeSection(t, "## Docker")), "\n"), -1) {
		all["docker"] = append(all["docker"], commented{m[1], m[2], "deploy/README.md, Docker"})
	}
	for kind, settings := range all {
		for _, s := range settings {
			if !known[s.name] {
				t.Errorf("%s: the commented %s is not a wxavatar setting (.env.example)", s.file, s.name)
			}
			if slices.Contains(secretSettings, s.name) {
				t.Errorf("%s: the commented %s is a key written inline; the examples take keys from files (%s_FILE)", s.file, s.name, s.name)
			}
			if kind == "configmap" && strings.HasSuffix(s.name, "_FILE") {
				t.Errorf("%s: %s belongs in the Deployment's env, beside the mounted keys", s.file, s.name)
			}
		}
	}
	// The default stays the default.
	if v, ok := configMap(t, loadManifests(t)).Data["STORAGE"]; ok && v != def {
		t.Errorf("kubernetes/configmap.yaml: STORAGE=%s; the example runs the default, %s", v, def)
	}
	if v, ok := readEnvFile(t, "systemd/wxavatar.env")["STORAGE"]; ok && v != def {
		t.Errorf("systemd/wxavatar.env: STORAGE=%s; the example runs the default, %s", v, def)
	}

	secretKeys := map[string]bool{}
	for _, line := range strings.Split(string(secretExample), "\n") {
		if m := commentedKey.FindStringSubmatch(line); m != nil {
			secretKeys[m[1]] = true
		}
	}
	find := func(list []commented, name string) (commented, bool) {
		for _, s := range list {
			if s.name == name {
				return s, true
			}
		}
		return commented{}, false
	}
	for provider, pc := range configs {
		if provider == def {
			continue
		}
		t.Run(provider, func(t *testing.T) {
			for _, kind := range []string{"configmap", "systemd", "docker"} {
				if !slices.ContainsFunc(all[kind], func(c commented) bool { return c.name == "STORAGE" && c.value == provider }) {
					t.Errorf("%s: no commented STORAGE=%s", kind, provider)
				}
				for _, name := range pc.required {
					isSecret := slices.Contains(pc.secrets, name)
					if kind == "configmap" && isSecret {
						continue // the Deployment's env, below
					}
					want := name
					if isSecret {
						want = name + "_FILE"
					}
					s, ok := find(all[kind], want)
					if !ok {
						t.Errorf("%s: no commented %s, which a production start with STORAGE=%s requires", kind, want, provider)
						continue
					}
					dir := map[string]string{"systemd": "/etc/wxavatar/secrets", "docker": "/run/secrets/wxavatar"}[kind]
					if isSecret && s.value != dir+"/"+secretFile(name) {
						t.Errorf("%s: %s=%s, want %s/%s, where the example keeps its keys", kind, want, s.value, dir, secretFile(name))
					}
					if p := providerOf(configs, s.name); !isSecret && p != provider {
						t.Errorf("%s: %s is a setting of STORAGE=%s", kind, s.name, p)
					}
				}
			}
			for _, name := range pc.secrets {
				required := slices.Contains(pc.required, name)
				file := secretFile(name)
				s, ok := find(all["env"], name+"_FILE")
				switch {
				case !ok && required:
					t.Errorf("kubernetes/deployment.yaml: no commented env %s_FILE", name)
				case ok && s.value != path.Join(keysMount, file):
					t.Errorf("kubernetes/deployment.yaml: %s_FILE=%s, want %s in the mounted Secret", name, s.value, path.Join(keysMount, file))
				}
				if !required {
					continue
				}
				if !secretKeys[file] {
					t.Errorf("kubernetes/secret.example.yaml: no commented key %s for %s_FILE", file, name)
				}
				fromFile := "--from-file=" + file + "=./" + file
				if !strings.Contains(readmeSection(t, "## Kubernetes"), fromFile) {
					t.Errorf("deploy/README.md, Kubernetes: `kubectl create secret generic wxavatar-keys` names no %s for STORAGE=%s", fromFile, provider)
				}
				if !strings.Contains(string(secretExample), fromFile) {
					t.Errorf("kubernetes/secret.example.yaml: its kubectl command names no %s for STORAGE=%s", fromFile, provider)
				}
				for _, sec := range []string{"## systemd", "## Docker"} {
					if !regexp.MustCompile(`\b` + file + `\b`).MatchString(strings.Join(commentLines(readmeSection(t, sec)), "\n")) {
						t.Errorf("deploy/README.md, %s: the commands do not say to create %s for STORAGE=%s", sec[3:], file, provider)
					}
				}
			}
		})
	}
}

// commentLines are the comment lines of the shell blocks in section.
func commentLines(section string) []string {
	var out []string
	for _, b := range strings.Split(section, "```sh")[1:] {
		b, _, _ = strings.Cut(b, "```")
		for _, line := range strings.Split(b, "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}

// ---- links ----------------------------------------------------------------

// slug is the anchor GitHub gives a heading: lower case, punctuation but
// hyphens dropped, spaces as hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestReadmeAnchors: every link to a heading of deploy/README.md, from
// itself or from the main README, names one it has, so that renaming a
// section cannot strand a link.
func TestReadmeAnchors(t *testing.T) {
	anchors := map[string]bool{}
	in := false
	for _, line := range strings.Split(readmeText(t), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
		}
		if !in && strings.HasPrefix(line, "#") {
			anchors[slug(strings.TrimLeft(line, "#"))] = true
		}
	}
	main, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct {
		name, text string
		re         *regexp.Regexp
	}{
		{"deploy/README.md", readmeText(t), regexp.MustCompile(`\]\(#([^)]+)\)`)},
		{"README.md", string(main), regexp.MustCompile(`\]\(deploy/README\.md#([^)]+)\)`)},
	} {
		for _, m := range src.re.FindAllStringSubmatch(src.text, -1) {
			if !anchors[m[1]] {
				t.Errorf("%s links to deploy/README.md#%s, which has no such heading", src.name, m[1])
			}
		}
	}
}
