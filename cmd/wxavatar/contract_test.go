package main

// The checker behind the contract test (openapi_test.go): openapi.yaml
// loaded as plain JSON values, its schemas compiled by
// github.com/santhosh-tekuri/jsonschema/v6 (JSON Schema 2020-12, the dialect
// of OpenAPI 3.1), and the OpenAPI rules around them (path templates,
// parameters, security, request bodies, responses, headers) written out
// here. Every check returns an error rather than failing a test, so that
// TestContractCheckerRefuses can feed it bad exchanges.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

const (
	// docURL is where the schema compiler keeps openapi.yaml, as JSON.
	docURL = "file:///openapi.json"
	// oasSchemaID is the $id of the OpenAPI 3.1 meta-schema, and
	// oasSchemaFile its copy: the official schema published by the OpenAPI
	// Initiative at https://spec.openapis.org/oas/3.1/schema/2022-10-07
	// (Apache-2.0), byte for byte as github.com/pb33f/libopenapi v0.41.8
	// vendored it (datamodel/schemas/oas31-schema.json).
	oasSchemaID   = "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
	oasSchemaFile = "testdata/oas-3.1-schema-2022-10-07.json"
)

// apiDoc is an OpenAPI 3.1 document, checked and ready to check exchanges.
type apiDoc struct {
	root      map[string]any
	compiler  *jsonschema.Compiler
	schemas   map[string]*jsonschema.Schema // by JSON pointer into root
	templates []*pathTemplate
	prefixes  []string // the path parts of the servers' URLs
}

// operation is one method of one path template.
type operation struct {
	method, template string
	node             map[string]any
	ptr              string // JSON pointer of node
	item             map[string]any
	itemPtr          string
}

func (op *operation) String() string { return op.method + " " + op.template }

// loadAPIDoc reads an OpenAPI 3.1 YAML document, validates it against the
// OpenAPI 3.1 meta-schema, resolves every $ref of its paths and components
// and compiles every schema in them, so that a broken document fails here.
func loadAPIDoc(path string) (*apiDoc, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var y any
	if err := yaml.Unmarshal(src, &y); err != nil {
		return nil, err
	}
	j, err := json.Marshal(jsonValue(y))
	if err != nil {
		return nil, err
	}
	// Numbers become json.Number, as the schema compiler wants them.
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a mapping")
	}
	if root["openapi"] != "3.1.0" {
		return nil, fmt.Errorf("openapi: %v; want 3.1.0", root["openapi"])
	}
	if err := validateOAS31(root); err != nil {
		return nil, fmt.Errorf("not a valid OpenAPI 3.1 document:\n%s", describeSchemaError(err))
	}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.AssertContent()
	c.RegisterFormat(intFormat("int32", math.MinInt32, math.MaxInt32))
	c.RegisterFormat(intFormat("int64", math.MinInt64, math.MaxInt64))
	if err := c.AddResource(docURL, root); err != nil {
		return nil, err
	}
	d := &apiDoc{root: root, compiler: c, schemas: map[string]*jsonschema.Schema{}}
	for _, s := range asSlice(root["servers"]) {
		u, err := url.Parse(str(asMap(s)["url"]))
		if err == nil && strings.Trim(u.Path, "/") != "" {
			d.prefixes = append(d.prefixes, "/"+strings.Trim(u.Path, "/"))
		}
	}
	paths := asMap(root["paths"])
	for _, tmpl := range sortedKeys(paths) {
		pt, err := parseTemplate(tmpl)
		if err != nil {
			return nil, err
		}
		d.templates = append(d.templates, pt)
	}
	if err := d.compileAll(); err != nil {
		return nil, err
	}
	return d, nil
}

// validateOAS31 checks doc against the vendored OpenAPI 3.1 meta-schema.
func validateOAS31(doc map[string]any) error {
	f, err := os.Open(oasSchemaFile)
	if err != nil {
		return err
	}
	defer f.Close()
	meta, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return fmt.Errorf("%s: %v", oasSchemaFile, err)
	}
	if id := str(asMap(meta)["$id"]); id != oasSchemaID {
		return fmt.Errorf("%s: $id %q; want %q", oasSchemaFile, id, oasSchemaID)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(oasSchemaID, meta); err != nil {
		return err
	}
	sch, err := c.Compile(oasSchemaID)
	if err != nil {
		return err
	}
	return sch.Validate(any(doc))
}

// jsonValue turns a decoded YAML value into JSON values: mapping keys
// become strings.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = jsonValue(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = jsonValue(e)
		}
		return s
	}
	return v
}

// intFormat is an integer format of the OpenAPI format registry, which
// JSON Schema does not define: a whole number from lo to hi.
func intFormat(name string, lo, hi int64) *jsonschema.Format {
	return &jsonschema.Format{Name: name, Validate: func(v any) error {
		n, ok := v.(json.Number)
		if !ok {
			return nil // other types are the rest of the schema's business
		}
		r, ok := new(big.Rat).SetString(string(n))
		if !ok || !r.IsInt() || r.Num().Cmp(big.NewInt(lo)) < 0 || r.Num().Cmp(big.NewInt(hi)) > 0 {
			return fmt.Errorf("%s is not a whole number from %d to %d", n, lo, hi)
		}
		return nil
	}}
}

// --- the document's structure

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asSlice(v any) []any        { s, _ := v.([]any); return s }
func str(v any) string           { s, _ := v.(string); return s }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ptrJoin appends reference tokens to a JSON pointer, escaped.
func ptrJoin(ptr string, toks ...string) string {
	for _, t := range toks {
		ptr += "/" + strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
	}
	return ptr
}

// where names a place of the document for a message.
func where(ptr string) string { return "openapi.yaml#" + ptr }

// lookup finds the value at a JSON pointer.
func (d *apiDoc) lookup(ptr string) (any, bool) {
	var v any = d.root
	if ptr == "" {
		return v, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			e, ok := c[tok]
			if !ok {
				return nil, false
			}
			v = e
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// resolve follows the $ref of an object (a response, parameter, header,
// request body or security scheme), if it has one, to the object itself,
// and says where that is.
func (d *apiDoc) resolve(v any, ptr string) (map[string]any, string, error) {
	for range 10 {
		m := asMap(v)
		if m == nil {
			return nil, ptr, fmt.Errorf("%s: not an object", where(ptr))
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr, nil
		}
		if !strings.HasPrefix(ref, "#") {
			return nil, ptr, fmt.Errorf("%s: $ref %q: only references within openapi.yaml are supported", where(ptr), ref)
		}
		frag, err := url.PathUnescape(ref[1:])
		if err != nil {
			return nil, ptr, fmt.Errorf("%s: $ref %q: %v", where(ptr), ref, err)
		}
		target, found := d.lookup(frag)
		if !found {
			return nil, ptr, fmt.Errorf("%s: $ref %q leads nowhere", where(ptr), ref)
		}
		v, ptr = target, frag
	}
	return nil, ptr, fmt.Errorf("%s: $ref chain too long", where(ptr))
}

// schema compiles the schema at a JSON pointer; the compiler resolves its
// $refs within the document.
func (d *apiDoc) schema(ptr string) (*jsonschema.Schema, error) {
	if s, ok := d.schemas[ptr]; ok {
		return s, nil
	}
	var loc strings.Builder
	loc.WriteString(docURL + "#")
	for _, tok := range strings.Split(ptr, "/")[1:] {
		loc.WriteString("/" + url.PathEscape(tok))
	}
	s, err := d.compiler.Compile(loc.String())
	if err != nil {
		return nil, fmt.Errorf("%s: schema does not compile: %w", where(ptr), err)
	}
	d.schemas[ptr] = s
	return s, nil
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations lists every operation of the document.
func (d *apiDoc) operations() []*operation {
	var ops []*operation
	for _, pt := range d.templates {
		item, itemPtr, _ := d.resolve(asMap(d.root["paths"])[pt.template], ptrJoin("/paths", pt.template))
		for _, m := range methods {
			if node := asMap(item[m]); node != nil {
				ops = append(ops, &operation{method: strings.ToUpper(m), template: pt.template,
					node: node, ptr: ptrJoin(itemPtr, m), item: item, itemPtr: itemPtr})
			}
		}
	}
	return ops
}

// compileAll resolves every $ref of the paths and components and compiles
// every schema in them.
func (d *apiDoc) compileAll() error {
	var errs []error
	invalid := map[string]bool{} // schemas found invalid, reported once
	check := func(err error) {
		var sve *jsonschema.SchemaValidationError
		if errors.As(err, &sve) {
			if invalid[sve.URL] {
				return
			}
			invalid[sve.URL] = true
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	schemaOf := func(obj map[string]any, ptr string) {
		if _, ok := obj["schema"]; ok {
			_, err := d.schema(ptr + "/schema")
			check(err)
		}
	}
	content := func(obj map[string]any, ptr string) {
		c := asMap(obj["content"])
		for _, mt := range sortedKeys(c) {
			schemaOf(asMap(c[mt]), ptrJoin(ptr, "content", mt))
		}
	}
	param := func(v any, ptr string) { // a parameter or a header
		obj, ptr, err := d.resolve(v, ptr)
		check(err)
		schemaOf(obj, ptr)
		content(obj, ptr)
	}
	body := func(v any, ptr string) { // a request body
		obj, ptr, err := d.resolve(v, ptr)
		check(err)
		content(obj, ptr)
	}
	response := func(v any, ptr string) {
		obj, ptr, err := d.resolve(v, ptr)
		check(err)
		h := asMap(obj["headers"])
		for _, name := range sortedKeys(h) {
			param(h[name], ptrJoin(ptr, "headers", name))
		}
		content(obj, ptr)
	}
	comp := asMap(d.root["components"])
	for _, c := range []struct {
		kind string
		f    func(any, string)
	}{
		{"schemas", func(_ any, ptr string) { _, err := d.schema(ptr); check(err) }},
		{"parameters", param}, {"headers", param}, {"requestBodies", body}, {"responses", response},
		{"securitySchemes", func(v any, ptr string) { _, _, err := d.resolve(v, ptr); check(err) }},
	} {
		objs := asMap(comp[c.kind])
		for _, name := range sortedKeys(objs) {
			c.f(objs[name], ptrJoin("/components", c.kind, name))
		}
	}
	for _, op := range d.operations() {
		for i, p := range asSlice(op.item["parameters"]) {
			param(p, ptrJoin(op.itemPtr, "parameters", strconv.Itoa(i)))
		}
		for i, p := range asSlice(op.node["parameters"]) {
			param(p, ptrJoin(op.ptr, "parameters", strconv.Itoa(i)))
		}
		if rb, ok := op.node["requestBody"]; ok {
			body(rb, op.ptr+"/requestBody")
		}
		rs := asMap(op.node["responses"])
		if len(rs) == 0 {
			check(fmt.Errorf("%s: %s lists no responses", where(op.ptr), op))
		}
		for _, status := range sortedKeys(rs) {
			response(rs[status], ptrJoin(op.ptr, "responses", status))
		}
		_, err := d.security(op)
		check(err)
	}
	return errors.Join(errs...)
}

// --- paths

// pathTemplate is a path of the document, split into segments; a segment
// with {parameters} has a pattern.
type pathTemplate struct {
	template string
	segs     []string
	patterns []*regexp.Regexp // nil for a literal segment
	names    [][]string       // the parameters of each templated segment
}

var paramInTemplate = regexp.MustCompile(`\{([^{}/]+)\}`)

func parseTemplate(tmpl string) (*pathTemplate, error) {
	if !strings.HasPrefix(tmpl, "/") {
		return nil, fmt.Errorf("%s: a path must start with /", where(ptrJoin("/paths", tmpl)))
	}
	pt := &pathTemplate{template: tmpl, segs: strings.Split(tmpl[1:], "/")}
	for _, seg := range pt.segs {
		ms := paramInTemplate.FindAllStringSubmatchIndex(seg, -1)
		if ms == nil {
			pt.patterns, pt.names = append(pt.patterns, nil), append(pt.names, nil)
			continue
		}
		var re strings.Builder
		var names []string
		last := 0
		re.WriteString("^")
		for _, m := range ms {
			re.WriteString(regexp.QuoteMeta(seg[last:m[0]]) + "([^/]+)")
			names = append(names, seg[m[2]:m[3]])
			last = m[1]
		}
		re.WriteString(regexp.QuoteMeta(seg[last:]) + "$")
		pt.patterns, pt.names = append(pt.patterns, regexp.MustCompile(re.String())), append(pt.names, names)
	}
	return pt, nil
}

// match matches an escaped request path, giving the path parameters.
func (pt *pathTemplate) match(segs []string) (map[string]string, bool) {
	if len(segs) != len(pt.segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, seg := range segs {
		if pt.patterns[i] == nil {
			if u, err := url.PathUnescape(seg); err != nil || u != pt.segs[i] {
				return nil, false
			}
			continue
		}
		m := pt.patterns[i].FindStringSubmatch(seg)
		if m == nil {
			return nil, false
		}
		for j, name := range pt.names[i] {
			v, err := url.PathUnescape(m[j+1])
			if err != nil {
				return nil, false
			}
			params[name] = v
		}
	}
	return params, true
}

// moreLiteral says whether pt is to be matched before other: it has a
// literal segment where other has a template, at the first place they
// differ so.
func (pt *pathTemplate) moreLiteral(other *pathTemplate) bool {
	for i := range min(len(pt.patterns), len(other.patterns)) {
		if (pt.patterns[i] == nil) != (other.patterns[i] == nil) {
			return pt.patterns[i] == nil
		}
	}
	return false
}

// find finds the operation for a method and a request URL: the path
// template that matches, literal segments before templated ones, then the
// method. op is nil when either is not listed; pathListed tells which.
func (d *apiDoc) find(method string, u *url.URL) (op *operation, params map[string]string, pathListed bool) {
	p := u.EscapedPath()
	for _, pre := range d.prefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			p = strings.TrimPrefix(p, pre)
			break
		}
	}
	if p == "" {
		p = "/"
	}
	var best *pathTemplate
	segs := strings.Split(p[1:], "/")
	for _, pt := range d.templates {
		if ps, ok := pt.match(segs); ok && (best == nil || pt.moreLiteral(best)) {
			best, params = pt, ps
		}
	}
	if best == nil {
		return nil, nil, false
	}
	for _, o := range d.operations() {
		if o.template == best.template && o.method == strings.ToUpper(method) {
			return o, params, true
		}
	}
	return nil, nil, true
}

// --- values against schemas

// validate checks a value against the schema at ptr.
func (d *apiDoc) validate(ptr string, v any) error {
	s, err := d.schema(ptr)
	if err != nil {
		return err
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("does not match %s:\n%s", where(ptr), describeSchemaError(err))
	}
	return nil
}

var english = message.NewPrinter(language.English)

// describeSchemaError lists the failures of a validation, each with the
// place in the instance and the keyword of the schema that failed.
func describeSchemaError(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "    " + err.Error()
	}
	var b strings.Builder
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		loc := strings.Replace(ptrJoin(e.SchemaURL, e.ErrorKind.KeywordPath()...), docURL+"#", "openapi.yaml#", 1)
		fmt.Fprintf(&b, "    at %q: %s (%s)\n", ptrJoin("", e.InstanceLocation...),
			e.ErrorKind.LocalizedString(english), loc)
	}
	walk(ve)
	return strings.TrimSuffix(b.String(), "\n")
}

// coerce turns the string of a header or parameter into the value its
// schema wants: a number or boolean when the schema's type says so.
func (d *apiDoc) coerce(schemaPtr string, s string) any {
	v, _ := d.lookup(schemaPtr)
	node, _, err := d.resolve(v, schemaPtr) // a $ref to components.schemas
	if err != nil {
		return s
	}
	var types []string
	switch t := node["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, e := range t {
			types = append(types, str(e))
		}
	}
	if len(types) == 0 || slices.Contains(types, "string") {
		return s
	}
	if slices.Contains(types, "integer") || slices.Contains(types, "number") {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var n any
		if dec.Decode(&n) == nil && !dec.More() {
			if n, ok := n.(json.Number); ok {
				return n
			}
		}
	}
	if slices.Contains(types, "boolean") && (s == "true" || s == "false") {
		return s == "true"
	}
	return s
}

// checkValue checks the string of a parameter or header (the resolved
// object at ptr) against its schema.
func (d *apiDoc) checkValue(obj map[string]any, ptr, s string) error {
	if _, ok := obj["schema"]; ok {
		return d.validate(ptr+"/schema", d.coerce(ptr+"/schema", s))
	}
	// content: one media type, whose schema the value must match as JSON.
	c := asMap(obj["content"])
	for _, mt := range sortedKeys(c) {
		if _, ok := asMap(c[mt])["schema"]; ok && isJSON(mt) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
			if err != nil {
				return fmt.Errorf("not JSON (%s): %v", where(ptr), err)
			}
			return d.validate(ptrJoin(ptr, "content", mt, "schema"), v)
		}
	}
	return nil
}

func isJSON(mediaType string) bool {
	mt, _, err := mime.ParseMediaType(mediaType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// mediaType finds the entry of a content map for a Content-Type: the exact
// type, then type/*, then */*.
func mediaType(content map[string]any, contentType string) (string, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	major, _, _ := strings.Cut(mt, "/")
	for _, want := range []string{mt, major + "/*", "*/*"} {
		for _, k := range sortedKeys(content) {
			if base, _, err := mime.ParseMediaType(k); err == nil && strings.EqualFold(base, want) {
				return k, true
			}
		}
	}
	return "", false
}

// checkBody checks a body against a content map: its Content-Type must be
// listed, and a JSON body must match the schema.
func (d *apiDoc) checkBody(content map[string]any, ptr, contentType string, body []byte) error {
	mt, ok := mediaType(content, contentType)
	if !ok {
		return fmt.Errorf("Content-Type %q is not listed in %s (%s)", contentType, where(ptr+"/content"), strings.Join(sortedKeys(content), ", "))
	}
	mtPtr := ptrJoin(ptr, "content", mt)
	if _, ok := asMap(content[mt])["schema"]; !ok || !isJSON(mt) {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON (%s): %v", where(mtPtr), err)
	}
	if err := d.validate(mtPtr+"/schema", v); err != nil {
		return fmt.Errorf("body %w", err)
	}
	return nil
}

// --- requests

// parameters are the parameters of an operation, its path item's included,
// by "in" and name; the operation's override the path item's.
func (d *apiDoc) parameters(op *operation) ([]map[string]any, []string, error) {
	var objs []map[string]any
	var ptrs []string
	idx := map[string]int{}
	for _, from := range []struct {
		list []any
		ptr  string
	}{{asSlice(op.item["parameters"]), op.itemPtr}, {asSlice(op.node["parameters"]), op.ptr}} {
		for i, p := range from.list {
			obj, ptr, err := d.resolve(p, ptrJoin(from.ptr, "parameters", strconv.Itoa(i)))
			if err != nil {
				return nil, nil, err
			}
			key := str(obj["in"]) + " " + str(obj["name"])
			if str(obj["in"]) == "header" {
				key = strings.ToLower(key)
			}
			if j, ok := idx[key]; ok {
				objs[j], ptrs[j] = obj, ptr
				continue
			}
			idx[key] = len(objs)
			objs, ptrs = append(objs, obj), append(ptrs, ptr)
		}
	}
	return objs, ptrs, nil
}

// security lists the security requirements of an operation: its own, or
// the document's. An empty list, or an empty requirement among them, lets
// anyone in.
func (d *apiDoc) security(op *operation) ([]map[string]any, error) {
	reqs, ok := op.node["security"]
	if !ok {
		reqs = d.root["security"]
	}
	var out []map[string]any
	for _, r := range asSlice(reqs) {
		req := asMap(r)
		for _, name := range sortedKeys(req) {
			if _, found := asMap(asMap(d.root["components"])["securitySchemes"])[name]; !found {
				return nil, fmt.Errorf("%s: security scheme %q is not in components.securitySchemes", where(op.ptr), name)
			}
		}
		out = append(out, req)
	}
	return out, nil
}

// checkSecurity checks that a request satisfies one of the operation's
// security requirements.
func (d *apiDoc) checkSecurity(op *operation, req *http.Request) error {
	reqs, err := d.security(op)
	if err != nil || len(reqs) == 0 {
		return err
	}
	var failed []string
	for _, r := range reqs {
		var missing []string
		for _, name := range sortedKeys(r) {
			ptr := ptrJoin("/components", "securitySchemes", name)
			scheme, _, err := d.resolve(asMap(asMap(d.root["components"])["securitySchemes"])[name], ptr)
			if err != nil {
				return err
			}
			if err := satisfies(scheme, req); err != nil {
				missing = append(missing, fmt.Sprintf("%s (%s): %v", name, where(ptr), err))
			}
		}
		if len(missing) == 0 {
			return nil
		}
		failed = append(failed, strings.Join(missing, "; "))
	}
	return fmt.Errorf("security of %s not satisfied: %s", op, strings.Join(failed, " | "))
}

// satisfies checks a request against one security scheme.
func satisfies(scheme map[string]any, req *http.Request) error {
	credential := func(want string) error {
		auth := req.Header.Get("Authorization")
		got, cred, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(got, want) || strings.TrimSpace(cred) == "" {
			return fmt.Errorf("wants Authorization: %s …; got %q", want, auth)
		}
		return nil
	}
	switch t := str(scheme["type"]); t {
	case "http":
		s := str(scheme["scheme"])
		return credential(strings.ToUpper(s[:min(1, len(s))]) + strings.ToLower(s[min(1, len(s)):]))
	default:
		return fmt.Errorf("scheme type %q is not supported by this checker", t)
	}
}

// checkRequest checks a request, whose body is given apart, against the
// document: a listed path and method, the parameters, the security
// requirement, and the body.
func (d *apiDoc) checkRequest(req *http.Request, body []byte) error {
	op, pathParams, pathListed := d.find(req.Method, req.URL)
	if op == nil {
		if pathListed {
			return fmt.Errorf("%s is not listed for path %s", req.Method, req.URL.Path)
		}
		return fmt.Errorf("path %s is not in openapi.yaml", req.URL.Path)
	}
	var errs []error
	params, ptrs, err := d.parameters(op)
	if err != nil {
		return err
	}
	for i, p := range params {
		name, in, ptr := str(p["name"]), str(p["in"]), ptrs[i]
		var values []string
		switch in {
		case "header":
			if slices.Contains([]string{"accept", "content-type", "authorization"}, strings.ToLower(name)) {
				continue // OpenAPI ignores these
			}
			values = req.Header.Values(name)
		case "path":
			if v, ok := pathParams[name]; ok {
				values = []string{v}
			}
		case "query":
			values = req.URL.Query()[name]
		case "cookie":
			if c, err := req.Cookie(name); err == nil {
				values = []string{c.Value}
			}
		}
		if len(values) == 0 {
			if p["required"] == true {
				errs = append(errs, fmt.Errorf("%s parameter %s (%s) is required and missing", in, name, where(ptr)))
			}
			continue
		}
		for _, v := range values {
			if err := d.checkValue(p, ptr, v); err != nil {
				errs = append(errs, fmt.Errorf("%s parameter %s %q %w", in, name, v, err))
			}
		}
	}
	if err := d.checkSecurity(op, req); err != nil {
		errs = append(errs, err)
	}
	if rb, ok := op.node["requestBody"]; ok {
		obj, ptr, err := d.resolve(rb, op.ptr+"/requestBody")
		switch {
		case err != nil:
			errs = append(errs, err)
		case len(body) == 0:
			if obj["required"] == true {
				errs = append(errs, fmt.Errorf("request body is required (%s) and missing", where(ptr)))
			}
		default:
			if err := d.checkBody(asMap(obj["content"]), ptr, req.Header.Get("Content-Type"), body); err != nil {
				errs = append(errs, fmt.Errorf("request %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// --- responses

// responseFor finds the response an operation lists for a status: the
// exact code, then its range (4XX), then default.
func responseFor(op *operation, status int) (any, string, bool) {
	rs := asMap(op.node["responses"])
	code := strconv.Itoa(status)
	for _, k := range []string{code, code[:1] + "XX", code[:1] + "xx", "default"} {
		if r, ok := rs[k]; ok {
			return r, ptrJoin(op.ptr, "responses", k), true
		}
	}
	return nil, "", false
}

// checkResponse checks an answer to an operation: its status must be
// listed for it, and the answer must match what is listed.
func (d *apiDoc) checkResponse(op *operation, status int, h http.Header, body []byte) error {
	r, ptr, ok := responseFor(op, status)
	if !ok {
		return fmt.Errorf("status %d is not documented for %s (%s lists %s)", status, op, where(op.ptr+"/responses"),
			strings.Join(sortedKeys(asMap(op.node["responses"])), ", "))
	}
	return d.checkResponseObject(r, ptr, h, body)
}

// checkResponseObject checks headers and body against a response object
// (or a $ref to one): every required header is there, every header there
// matches its schema, the Content-Type is listed and a JSON body matches
// its schema.
func (d *apiDoc) checkResponseObject(r any, ptr string, h http.Header, body []byte) error {
	obj, ptr, err := d.resolve(r, ptr)
	if err != nil {
		return err
	}
	var errs []error
	headers := asMap(obj["headers"])
	for _, name := range sortedKeys(headers) {
		if strings.EqualFold(name, "Content-Type") {
			continue // OpenAPI ignores it: content says it
		}
		hdr, hptr, err := d.resolve(headers[name], ptrJoin(ptr, "headers", name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		values := h.Values(name)
		if len(values) == 0 {
			if hdr["required"] == true {
				errs = append(errs, fmt.Errorf("header %s is required (%s) and missing", name, where(hptr)))
			}
			continue
		}
		for _, v := range values {
			if err := d.checkValue(hdr, hptr, v); err != nil {
				errs = append(errs, fmt.Errorf("header %s %q %w", name, v, err))
			}
		}
	}
	content := asMap(obj["content"])
	switch {
	case len(content) == 0 && len(body) > 0:
		errs = append(errs, fmt.Errorf("a body, where %s lists no content", where(ptr)))
	case len(content) > 0 && len(body) == 0:
		errs = append(errs, fmt.Errorf("no body, where %s lists content", where(ptr)))
	case len(content) > 0:
		if err := d.checkBody(content, ptr, h.Get("Content-Type"), body); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkUnlisted checks an answer to a method or path the document does not
// list against components.responses.NotFound or MethodNotAllowed.
func (d *apiDoc) checkUnlisted(pathListed bool, status int, h http.Header, body []byte) error {
	name, want := "NotFound", http.StatusNotFound
	if pathListed {
		name, want = "MethodNotAllowed", http.StatusMethodNotAllowed
	}
	if status != want {
		return fmt.Errorf("answered %d; the document says %d (components.responses.%s)", status, want, name)
	}
	r, ok := asMap(asMap(d.root["components"])["responses"])[name]
	if !ok {
		return fmt.Errorf("openapi.yaml lacks components.responses.%s", name)
	}
	return d.checkResponseObject(r, ptrJoin("/components", "responses", name), h, body)
}

// checkAnswer checks an answer to a request against the document, listed
// or not, and says what it exercised: "METHOD /template status", or
// "(unlisted) status".
func (d *apiDoc) checkAnswer(req *http.Request, status int, h http.Header, body []byte) (string, error) {
	op, _, pathListed := d.find(req.Method, req.URL)
	if op == nil {
		return fmt.Sprintf("(unlisted) %d", status), d.checkUnlisted(pathListed, status, h, body)
	}
	return fmt.Sprintf("%s %d", op, status), d.checkResponse(op, status, h, body)
}

// TestContractCheckerRefuses feeds the checker hand-made exchanges against
// the real openapi.yaml: each good one must pass, each bad one must fail,
// so the contract test cannot pass by checking nothing.
func TestContractCheckerRefuses(t *testing.T) {
	d, err := loadAPIDoc("../../openapi.yaml")
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	const (
		user = `{"id":"u1","nickname":"","avatar_url":"https://cdn.example.com/avatars/u1/a.png",` +
			`"avatar_thumb_url":"https://cdn.example.com/avatars/u1/thumb","avatar_review":null,"updated_at":"2026-05-01T08:30:00Z"}`
		rejected = `{"error":{"code":"upload_rejected","message":"not an image","reason":"not_an_image"},"request_id":"r1"}`
		errBody  = `{"error":{"code":"rate_limited","message":"slow down"},"request_id":"r1"}`
		upload   = `{"upload":{"id":"u1","key":"uploads/u/u1.png","expires_at":"2026-05-01T08:30:00Z","max_bytes":1000,` +
			`"url":"https://cdn.example.com/avatars/u/u1.png","post":{"url":"https://b.cos.example.com","file_field":"file",` +
			`"form":{"key":"uploads/u/u1.png","policy":"eyJhIjoxfQ==","q-sign-algorithm":"sha1","q-ak":"ak","q-key-time":"1;2",` +
			`"q-signature":"0123456789abcdef0123456789abcdef01234567","Content-Type":"image/png","success_action_status":"204",` +
			`"acl":"private","x-cos-storage-class":"STANDARD"}}}}`
	)
	type answer struct {
		method, path string
		status       int
		header       map[string]string // X-Request-Id and Content-Type unless given
		body         string
		want         string // "" for a good answer; else a part of the error
	}
	for _, a := range []answer{
		{"GET", "/v1/me", 200, nil, `{"user":` + user + `}`, ""},
		{"GET", "/v1/me", 200, map[string]string{"X-Request-Id": "a.b-c_1"}, `{"user":` + user + `}`, ""},
		{"GET", "/v1/me", 418, nil, `{"user":` + user + `}`, "status 418 is not documented for GET /v1/me"},
		{"GET", "/v1/me", 200, map[string]string{"X-Request-Id": ""}, `{"user":` + user + `}`, "header X-Request-Id is required"},
		{"GET", "/v1/me", 200, map[string]string{"X-Request-Id": "white space"}, `{"user":` + user + `}`, "header X-Request-Id"},
		{"GET", "/v1/me", 200, nil, `{"user":{"id":"u1","nickname":"","updated_at":"2026-05-01T08:30:00Z"}}`, "avatar_url"},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, `"https://cdn.example.com/avatars/u1/a.png"`, `5`, 1), `at "/user/avatar_url"`},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, `"https://cdn.example.com/avatars/u1/a.png"`, `null`, 1), ""},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, `"https://cdn.example.com/avatars/u1/a.png"`, `"not a uri"`, 1), `at "/user/avatar_url"`},
		{"GET", "/v1/me", 200, nil, `{"user":` + user + `,"extra":1}`, "additional"},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, "2026-05-01", "2026-02-30", 1), `at "/user/updated_at"`},
		{"GET", "/v1/me", 200, map[string]string{"Content-Type": "text/plain"}, `{"user":` + user + `}`, `Content-Type "text/plain" is not listed`},
		{"GET", "/v1/me", 200, nil, `{"user":`, "body is not JSON"},
		{"GET", "/v1/me", 200, nil, ``, "no body"},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, `"https://cdn.example.com/avatars/u1/thumb"`, `"not a uri"`, 1), `at "/user/avatar_thumb_url"`},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, `"avatar_review":null`, `"avatar_review":{"status":"rejected","upload_id":"up1","reason":"risky"}`, 1), ""},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, `"avatar_review":null`, `"avatar_review":{"status":"pending","upload_id":"up1"}`, 1), ""},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, `"avatar_review":null`, `"avatar_review":{"status":"gone","upload_id":"up1"}`, 1), `at "/user/avatar_review"`},
		{"GET", "/v1/me", 200, nil, strings.Replace(`{"user":`+user+`}`, `"avatar_review":null,`, ``, 1), "avatar_review"},
		{"POST", "/v1/avatar/uploads/abc/confirm", 422, nil, rejected, ""},
		{"POST", "/v1/avatar/uploads/abc/confirm", 422, nil, strings.Replace(rejected, "not_an_image", "bogus", 1), `at "/error/reason"`},
		{"POST", "/v1/avatar/uploads/abc/confirm", 503, nil, strings.Replace(errBody, "rate_limited", "busy", 1), ""},
		{"GET", "/healthz", 200, nil, `{"status":"ok"}`, ""},
		{"GET", "/healthz", 200, nil, `{"status":"ok","extra":1}`, "additional"},
		{"GET", "/healthz", 200, nil, `{"status":"fine"}`, `at "/status"`},
		{"POST", "/v1/avatar/uploads", 429, map[string]string{"Retry-After": "600"}, errBody, ""},
		{"POST", "/v1/avatar/uploads", 429, nil, errBody, "header Retry-After is required"},
		{"POST", "/v1/avatar/uploads", 429, map[string]string{"Retry-After": "soon"}, errBody, "header Retry-After"},
		{"POST", "/v1/avatar/uploads", 429, map[string]string{"Retry-After": "0"}, errBody, "header Retry-After"},
		{"POST", "/v1/avatar/uploads", 429, map[string]string{"Retry-After": "600"}, strings.Replace(errBody, "rate_limited", "unauthorized", 1), `at "/error/code"`},
		{"POST", "/v1/avatar/uploads/abc/confirm", 401, map[string]string{"WWW-Authenticate": `Bearer realm="wxavatar"`}, strings.Replace(errBody, "rate_limited", "unauthorized", 1), ""},
		{"POST", "/v1/avatar/uploads/abc/confirm", 401, nil, strings.Replace(errBody, "rate_limited", "unauthorized", 1), "header WWW-Authenticate is required"},
		{"POST", "/v1/avatar/uploads/abc/confirm", 401, map[string]string{"WWW-Authenticate": "Basic"}, strings.Replace(errBody, "rate_limited", "unauthorized", 1), "header WWW-Authenticate"},
		{"POST", "/v1/avatar/uploads/abc/confirm", 200, nil, `{"user":` + user + `,"upload":{"id":"abc","status":"confirmed","size":1.5,"content_type":"image/png","url":"https://cdn.example.com/a.png"}}`, `at "/upload/size"`},
		{"POST", "/v1/avatar/uploads", 201, nil, upload, ""},
		{"POST", "/v1/avatar/uploads", 201, nil, strings.Replace(upload, "eyJhIjoxfQ==", "not base64!", 1), `at "/upload/post/form/policy"`},
		{"POST", "/v1/avatar/uploads", 201, nil, strings.Replace(upload, `"1;2"`, `"1-2"`, 1), `at "/upload/post/form/q-key-time"`},
		{"GET", "/nope", 404, nil, strings.Replace(errBody, "rate_limited", "not_found", 1), ""},
		{"GET", "/nope", 200, nil, `{"status":"ok"}`, "the document says 404"},
		{"POST", "/v1/me", 405, map[string]string{"Allow": "GET, PUT, PATCH, DELETE"}, strings.Replace(errBody, "rate_limited", "method_not_allowed", 1), ""},
		{"POST", "/v1/me", 405, nil, strings.Replace(errBody, "rate_limited", "method_not_allowed", 1), "header Allow is required"},
	} {
		req := httptest.NewRequest(a.method, a.path, nil)
		h := http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json; charset=UTF-8"}}
		for k, v := range a.header {
			if h.Del(k); v != "" {
				h.Set(k, v)
			}
		}
		_, err := d.checkAnswer(req, a.status, h, []byte(a.body))
		name := fmt.Sprintf("%s %s %d %v %.80s", a.method, a.path, a.status, a.header, a.body)
		checkVerdict(t, name, err, a.want)
	}

	type request struct {
		method, path, token, body string
		want                      string
	}
	for _, r := range []request{
		{"POST", "/v1/session", "", `{"code":"abc"}`, ""},
		{"POST", "/v1/session", "", `{"code":"abc","extra":1}`, "additional"},
		{"POST", "/v1/session", "", `{"code":""}`, `at "/code"`},
		{"POST", "/v1/session", "", ``, "request body is required"},
		{"POST", "/v1/session", "", `not json`, "body is not JSON"},
		{"GET", "/v1/me", "tok", ``, ""},
		{"GET", "/v1/me", "", ``, "security of GET /v1/me not satisfied"},
		{"PATCH", "/v1/me", "tok", `{"nickname":12}`, `at "/nickname"`},
		{"POST", "/v1/avatar/uploads", "tok", `{"content_type":"image/png","size":10}`, ""},
		{"POST", "/v1/avatar/uploads", "tok", `{"content_type":"image/png","size":1.5}`, `at "/size"`},
		{"POST", "/v1/avatar/uploads", "tok", `{"content_type":"image/png","size":9223372036854775808}`, `at "/size"`},
		{"POST", "/v1/avatar/uploads/abc/confirm", "tok", ``, ""},
		{"POST", "/v1/avatar/uploads/abc/confirm", "", ``, "security of POST /v1/avatar/uploads/{id}/confirm not satisfied"},
		{"POST", "/v1/avatar/uploads/abc", "tok", ``, "path /v1/avatar/uploads/abc is not in openapi.yaml"},
		{"POST", "/v1/me", "tok", ``, "POST is not listed for path /v1/me"},
	} {
		req := httptest.NewRequest(r.method, r.path, nil)
		if r.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if r.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		err := d.checkRequest(req, []byte(r.body))
		name := fmt.Sprintf("request %s %s token %q %.80s", r.method, r.path, r.token, r.body)
		checkVerdict(t, name, err, r.want)
	}

	// The document itself: a broken one does not load.
	src, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ old, new, want string }{
		{"openapi: 3.1.0", "openapi: 3.0.3", "want 3.1.0"},
		{"openapi: 3.1.0", "openapi: 3.1.1", "want 3.1.0"},
		{"      in: header\n", "      in: headers\n", "not a valid OpenAPI 3.1 document"},
		{"  /v1/me:\n    get:\n", "  /v1/me:\n    got:\n", "not a valid OpenAPI 3.1 document"},
		{"schema: {$ref: '#/components/schemas/UserEnvelope'}", "schema: {$ref: '#/components/schemas/Nope'}", "Nope"},
		{"X-Request-Id: {$ref: '#/components/headers/X-Request-Id'}", "X-Request-Id: {$ref: '#/components/headers/Nope'}", "leads nowhere"},
		{"type: [string, 'null']", "type: [string, nil]", "does not compile"},
	} {
		if !strings.Contains(string(src), m.old) {
			t.Fatalf("openapi.yaml has no %q to break", m.old)
		}
		path := filepath.Join(t.TempDir(), "openapi.yaml")
		if err := os.WriteFile(path, []byte(strings.Replace(string(src), m.old, m.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := loadAPIDoc(path)
		checkVerdict(t, fmt.Sprintf("openapi.yaml with %q", m.new), err, m.want)
	}

	// Path templates: the confirm route is found by its template, with its
	// path parameter; a literal segment wins over a template.
	req := httptest.NewRequest("POST", "/v1/avatar/uploads/a%2Fb/confirm", nil)
	if op, params, _ := d.find(req.Method, req.URL); op == nil || op.template != "/v1/avatar/uploads/{id}/confirm" || params["id"] != "a/b" {
		t.Errorf("find confirm: %v %v", op, params)
	}
	lit, _ := parseTemplate("/a/b/{c}")
	tmpl, _ := parseTemplate("/a/{b}/c")
	if !lit.moreLiteral(tmpl) || tmpl.moreLiteral(lit) {
		t.Errorf("/a/b/{c} must be matched before /a/{b}/c")
	}
}

// checkVerdict fails unless the checker accepted what it should (want "")
// or refused it with an error that mentions want.
func checkVerdict(t *testing.T, name string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: refused a good one: %v", name, err)
	case want != "" && err == nil:
		t.Errorf("%s: accepted; want an error with %q", name, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: error %q; want it to contain %q", name, err, want)
	case err != nil:
		t.Logf("%s: refused, as it should:\n%v", name, err)
	}
}
