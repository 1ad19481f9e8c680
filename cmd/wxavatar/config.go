package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/wxavatar/wxavatar/auth"
	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/handler"
	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/wechat"
)

// config is every setting, parsed once. Nothing outside cmd/ reads the
// environment.
type config struct {
	Dev           bool
	Addr          string
	MetricsAddr   string // "" → no metrics listener (METRICS_ADDR=off)
	PprofAddr     string // "" → no profiling endpoint
	DatabaseURL   string
	WeChatAppID   string
	WeChatSecret  string
	WeChatAPIBase string
	// ContentSecurity checks nicknames with WeChat before they are saved.
	ContentSecurity         bool
	ContentSecurityFailOpen bool // save a nickname WeChat could not judge, as unchecked
	NicknameReviewAccept    bool // save a nickname WeChat sends to review
	// AvatarReviewHold shows a new avatar only once WeChat passes it
	// (AVATAR_REVIEW=before); otherwise at once, taken down if risky.
	AvatarReviewHold    bool
	AvatarReviewTimeout time.Duration // how long an avatar's verdict is waited for
	// Push are the message push's Token and EncodingAESKey (the mini
	// program console's 消息推送); an empty Token: /wechat/push off.
	Push           wechat.PushSecrets
	WeChatTimeout  time.Duration // one code2Session call
	JWTKeys        *auth.KeyRing
	SessionTTL     time.Duration
	Storage        storageConfig
	PublicBaseURL  *url.URL // nil → the bucket URL
	UploadMaxBytes int64
	UploadTTL      time.Duration
	PendingUploads int
	Images         avatar.ImageLimits
	ImageWorkers   int
	Limits         handler.Limits
	SweepInterval  time.Duration // 0 = no sweeping
	SweepGrace     time.Duration // how long a replaced avatar is kept
	// UploadRetention is how long an upload's record is kept once its
	// objects are deleted.
	UploadRetention time.Duration
	DevStorageAddr  string
	DevStorageDir   string
	DevFaults       localcos.FaultConfig
}

const (
	defaultDatabaseURL = "sqlite:./data/wxavatar.db"
	// defaultMetricsAddr keeps /metrics off every public interface unless
	// the operator says where Prometheus reaches it.
	defaultMetricsAddr = "127.0.0.1:9090"
)

// The storage providers (STORAGE).
const (
	providerCOS = "cos"
	providerOSS = "oss"
	providerS3  = "s3"
)

// storageConfig is the one bucket the service stores objects in, on the
// provider STORAGE names. Each provider has settings of its own, named
// with its prefix (COS_, OSS_, S3_), in the provider's own words.
type storageConfig struct {
	Provider string // providerCOS, providerOSS or providerS3
	Bucket   string
	Region   string
	// Endpoint is where requests go: COS's bucket URL, OSS's region
	// endpoint, the S3 endpoint. nil in --dev until the local object
	// server listens.
	Endpoint *url.URL
	// PathStyle addresses the bucket as endpoint/bucket/key (MinIO, the
	// local object server) rather than bucket.endpoint/key; OSS and S3.
	PathStyle bool
	// PostPolicy: the store takes POST policy form uploads. Always on COS
	// and OSS; S3_POST_POLICY=false for stores without (Cloudflare R2),
	// whose signatures then carry only the presigned PUT.
	PostPolicy  bool
	Credentials storage.Credentials
	Timeout     time.Duration // one storage call, retries included
	// Ignored names the settings of other providers that are set: logged
	// at start, since a STORAGE that says one provider while the settings
	// say another is usually a mistake.
	Ignored []string
}

// Development values: public on purpose, accepted only by the local object
// server and only in --dev.
const (
	devBucket    = "wxavatar-1250000000"
	devRegion    = "ap-guangzhou"
	devOSSBucket = "wxavatar-dev"
	devOSSRegion = "cn-hangzhou"
	devS3Bucket  = "wxavatar-dev"
	devS3Region  = "us-east-1"
	devSecretID  = "AKIDwxavatarDevLocalObjectServer00"
	devSecretKey = "wxavatarDevSecretKeyNotForProduction0"
	devJWTKeys   = "dev:wxavatar-dev-jwt-key-not-for-production-use"
)

// envSource reads a variable from the process environment first, then from
// the .env file.
type envSource struct {
	getenv func(string) string
	file   map[string]string
}

func newEnvSource(getenv func(string) string, envFile string) (envSource, error) {
	src := envSource{getenv: getenv}
	if envFile == "" {
		return src, nil
	}
	m, err := godotenv.Read(envFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return src, nil
	case err != nil:
		return src, fmt.Errorf("config: %s: %w", envFile, err)
	}
	src.file = m
	return src, nil
}

func (s envSource) get(name string) string {
	if v := s.getenv(name); v != "" {
		return v
	}
	return s.file[name]
}

// settingError names the variable, so a failed start says what to fix in one
// line.
type settingError struct {
	name string
	msg  string
}

func (e *settingError) Error() string { return "config: " + e.name + ": " + e.msg }

// configError is every setting that is wrong, one line each, so that an
// operator fixes them all after one failed start rather than one per start.
type configError []*settingError

func (e configError) Error() string {
	lines := make([]string, len(e))
	for i, se := range e {
		lines[i] = se.Error()
	}
	return strings.Join(lines, "\n")
}

func (e configError) Unwrap() []error {
	errs := make([]error, len(e))
	for i, se := range e {
		errs[i] = se
	}
	return errs
}

// parser collects an error per bad variable, so that loadConfig reads as a
// list of settings and reports every problem at once.
type parser struct {
	src  envSource
	dev  bool
	errs configError
}

// fail records what is wrong with name; only its first problem is kept.
func (p *parser) fail(name, format string, args ...any) {
	if !p.failed(name) {
		p.errs = append(p.errs, &settingError{name: name, msg: fmt.Sprintf(format, args...)})
	}
}

// failed reports whether name (or name_FILE) already has a problem.
func (p *parser) failed(name string) bool {
	for _, e := range p.errs {
		if e.name == name || e.name == name+"_FILE" {
			return true
		}
	}
	return false
}

// failedAny reports whether any of names already has a problem.
func (p *parser) failedAny(names ...string) bool {
	return slices.ContainsFunc(names, p.failed)
}

// err is nil, or every problem found.
func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return p.errs
}

// str returns the variable, or def when unset. A variable required in
// production (def == "" and required) that is missing is an error.
func (p *parser) str(name, def string, requiredInProd bool) string {
	v := strings.TrimSpace(p.src.get(name))
	if v != "" {
		return v
	}
	if requiredInProd && !p.dev {
		p.fail(name, "required (or run with --dev)")
	}
	return def
}

// boolean reads true or false (as strconv.ParseBool does), def when unset.
func (p *parser) boolean(name string, def bool) bool {
	v := strings.TrimSpace(p.src.get(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "%q: want true or false", v)
		return def
	}
	return b
}

// secret reads name, or the file that name_FILE points to (the usual form
// for mounted secrets), surrounding white space trimmed.
func (p *parser) secret(name, def string, requiredInProd bool) string {
	file := strings.TrimSpace(p.src.get(name + "_FILE"))
	if file == "" {
		return p.str(name, def, requiredInProd)
	}
	if strings.TrimSpace(p.src.get(name)) != "" {
		p.fail(name, "set either %s or %s_FILE, not both", name, name)
		return def
	}
	b, err := os.ReadFile(file)
	if err != nil {
		p.fail(name+"_FILE", "cannot read %s: %v", file, errors.Unwrap(err))
		return def
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		p.fail(name+"_FILE", "%s is empty", file)
		return def
	}
	return v
}

func (p *parser) duration(name string, def, min, max time.Duration) time.Duration {
	v := p.str(name, "", false)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		p.fail(name, "want a duration from %s to %s, like %s", min, max, def)
		return def
	}
	return d
}

func (p *parser) integer(name string, def, min, max int64) int64 {
	v := p.str(name, "", false)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		p.fail(name, "want a whole number from %d to %d", min, max)
		return def
	}
	return n
}

func (p *parser) url(name, v string) *url.URL {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		p.fail(name, "want an http(s) URL without query")
		return nil
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u
}

var (
	bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*-[0-9]+$`)
	regionPattern = regexp.MustCompile(`^[a-z]+(-[a-z]+)+(-[0-9]+)?$`)
	// OSS bucket names: 3 to 63 lower-case letters, digits and hyphens,
	// starting and ending with a letter or digit ("存储空间命名规范").
	ossBucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	ossRegionPattern = regexp.MustCompile(`^[a-z]+(-[a-z0-9]+)+$`)
	// S3 bucket names: 3 to 63 lower-case letters, digits, dots and
	// hyphens, starting and ending with a letter or digit ("Bucket naming
	// rules"); dots are allowed but break virtual-host TLS.
	s3BucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// AWS regions (us-east-1), R2's "auto", MinIO's configured region.
	s3RegionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// sameStore reports whether o names the same store as sc, whatever its
// keys: a reload may swap the keys, never the store.
func (sc storageConfig) sameStore(o storageConfig) bool {
	same := func(a, b *url.URL) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	return sc.Provider == o.Provider && sc.Bucket == o.Bucket && sc.Region == o.Region && same(sc.Endpoint, o.Endpoint) &&
		sc.PathStyle == o.PathStyle && sc.PostPolicy == o.PostPolicy
}

// storageProvider is one provider's settings: their names, in the
// provider's own words, and what they may hold.
type storageProvider struct {
	bucket, region, keyID, secret, token, endpoint, timeout string
	// extra are the provider's settings beyond the common ones.
	extra                  []string
	bucketRule, regionRule *regexp.Regexp
	bucketHint, regionHint string
	devBucket, devRegion   string
	defaultHost            func(bucket, region string) string
}

var storageProviders = map[string]storageProvider{
	providerCOS: {
		bucket: "COS_BUCKET", region: "COS_REGION", keyID: "COS_SECRET_ID", secret: "COS_SECRET_KEY",
		token: "COS_SESSION_TOKEN", endpoint: "COS_BUCKET_URL", timeout: "COS_TIMEOUT",
		bucketRule: bucketPattern, bucketHint: "want name-appid, like avatars-1250000000",
		regionRule: regionPattern, regionHint: "want a COS region, like ap-guangzhou",
		devBucket: devBucket, devRegion: devRegion,
		defaultHost: func(bucket, region string) string { return bucket + ".cos." + region + ".myqcloud.com" },
	},
	providerOSS: {
		bucket: "OSS_BUCKET", region: "OSS_REGION", keyID: "OSS_ACCESS_KEY_ID", secret: "OSS_ACCESS_KEY_SECRET",
		token: "OSS_SECURITY_TOKEN", endpoint: "OSS_ENDPOINT", timeout: "OSS_TIMEOUT",
		bucketRule: ossBucketPattern, bucketHint: "want 3 to 63 lower-case letters, digits and hyphens, like wxavatar-avatars",
		regionRule: ossRegionPattern, regionHint: "want an OSS region id, like cn-hangzhou",
		devBucket: devOSSBucket, devRegion: devOSSRegion,
		defaultHost: func(_, region string) string { return "oss-" + region + ".aliyuncs.com" },
	},
	providerS3: {
		bucket: "S3_BUCKET", region: "S3_REGION", keyID: "S3_ACCESS_KEY_ID", secret: "S3_SECRET_ACCESS_KEY",
		token: "S3_SESSION_TOKEN", endpoint: "S3_ENDPOINT", timeout: "S3_TIMEOUT",
		extra:      []string{"S3_PATH_STYLE", "S3_POST_POLICY"},
		bucketRule: s3BucketPattern, bucketHint: "want 3 to 63 lower-case letters, digits, dots and hyphens, like wxavatar-avatars",
		regionRule: s3RegionPattern, regionHint: "want a region, like us-east-1 (auto for Cloudflare R2)",
		devBucket: devS3Bucket, devRegion: devS3Region,
		defaultHost: func(_, region string) string { return "s3." + region + ".amazonaws.com" },
	},
}

// settings are every name the provider reads, the secrets' *_FILE forms
// included.
func (sp storageProvider) settings() []string {
	return append([]string{sp.bucket, sp.region, sp.keyID, sp.keyID + "_FILE", sp.secret, sp.secret + "_FILE",
		sp.token, sp.token + "_FILE", sp.endpoint, sp.timeout}, sp.extra...)
}

// loadStorage reads STORAGE and the settings of the provider it names.
func loadStorage(p *parser, dev bool) storageConfig {
	sc := storageConfig{Provider: p.str("STORAGE", providerCOS, false), PostPolicy: true}
	sp, ok := storageProviders[sc.Provider]
	if !ok {
		p.fail("STORAGE", "%q: want cos, oss or s3", sc.Provider)
		return sc
	}
	if sc.Bucket = p.str(sp.bucket, sp.devBucket, true); !sp.bucketRule.MatchString(sc.Bucket) {
		p.fail(sp.bucket, "%s", sp.bucketHint)
	}
	if sc.Region = p.str(sp.region, sp.devRegion, true); !sp.regionRule.MatchString(sc.Region) {
		p.fail(sp.region, "%s", sp.regionHint)
	}
	sc.Credentials = storage.Credentials{
		SecretID:     p.secret(sp.keyID, devSecretID, true),
		SecretKey:    p.secret(sp.secret, devSecretKey, true),
		SessionToken: p.secret(sp.token, "", false),
	}
	sc.Endpoint = p.url(sp.endpoint, p.str(sp.endpoint, "", false))
	if sc.Endpoint == nil && !dev {
		sc.Endpoint = &url.URL{Scheme: "https", Host: sp.defaultHost(sc.Bucket, sc.Region)}
	}
	sc.Timeout = p.duration(sp.timeout, 3*time.Second, 100*time.Millisecond, 9*time.Second)
	switch sc.Provider {
	case providerOSS:
		// OSS refuses path-style requests to its own endpoints
		// ("OSS访问方式"); only an endpoint with no room for the bucket as
		// a subdomain, an IP address (the local object server), is
		// addressed so.
		sc.PathStyle = literalHost(sc.Endpoint)
		if strings.HasPrefix(sc.Region, "oss-") {
			p.fail(sp.region, "%q is the endpoint's name: want the region id, %s", sc.Region, strings.TrimPrefix(sc.Region, "oss-"))
		}
	case providerS3:
		sc.PathStyle = p.boolean("S3_PATH_STYLE", literalHost(sc.Endpoint))
		sc.PostPolicy = p.boolean("S3_POST_POLICY", true)
		if sc.PostPolicy && sc.Endpoint != nil && strings.HasSuffix(sc.Endpoint.Hostname(), ".r2.cloudflarestorage.com") {
			p.fail("S3_POST_POLICY", "Cloudflare R2 takes no POST policy uploads: set S3_POST_POLICY=false")
		}
		if strings.Contains(sc.Bucket, ".") && !sc.PathStyle && sc.Endpoint != nil && sc.Endpoint.Scheme == "https" {
			p.fail(sp.bucket, "a name with dots is no single TLS host name label (%s.%s): set S3_PATH_STYLE=true", sc.Bucket, sc.Endpoint.Host)
		}
	}
	if sc.Endpoint != nil && sc.Endpoint.Scheme == "http" && !dev && !literalHost(sc.Endpoint) {
		// Phones upload to the endpoint, and WeChat lets a mini program
		// reach HTTPS only; the service's own signed calls and STS token
		// would travel in clear too.
		p.fail(sp.endpoint, "want https:// (http only for a local object server on an IP address or localhost)")
	}
	if sc.Endpoint != nil && !p.failedAny(sp.settings()...) {
		// What only the provider's client knows to refuse (an endpoint it
		// would address differently, credentials it cannot sign with), now
		// rather than at the first request; it makes no network call.
		if _, err := newProvider(sc, nil, nil); err != nil {
			p.fail(sp.endpoint, "%v", err)
		}
	}
	for provider, other := range storageProviders {
		if provider == sc.Provider {
			continue
		}
		for _, name := range other.settings() {
			if p.src.get(name) != "" {
				sc.Ignored = append(sc.Ignored, name)
			}
		}
	}
	slices.Sort(sc.Ignored)
	return sc
}

// literalHost reports whether u's host is an IP address or localhost,
// under which a bucket cannot be a subdomain; nil (in --dev, the local
// object server, whose address comes later) counts as one.
func literalHost(u *url.URL) bool {
	if u == nil {
		return true
	}
	h := u.Hostname()
	return h == "localhost" || net.ParseIP(h) != nil
}

func loadConfig(dev bool, src envSource) (config, error) {
	p := &parser{src: src, dev: dev}
	c := config{Dev: dev}
	defAddr := ":8080"
	if dev {
		defAddr = "127.0.0.1:8080"
	}
	c.Addr = p.str("ADDR", defAddr, false)
	if !validHostPort(c.Addr) {
		p.fail("ADDR", "want host:port, like %s", defAddr)
	}
	switch c.MetricsAddr = p.str("METRICS_ADDR", defaultMetricsAddr, false); {
	case c.MetricsAddr == "off":
		c.MetricsAddr = ""
	case !validHostPort(c.MetricsAddr):
		p.fail("METRICS_ADDR", "want host:port, like %s, or off", defaultMetricsAddr)
	case dev && !loopback(c.MetricsAddr):
		p.fail("METRICS_ADDR", "--dev listens on loopback only (127.0.0.1, ::1 or localhost)")
	}
	c.PprofAddr = p.str("PPROF_ADDR", "", false)
	if c.PprofAddr != "" && !loopback(c.PprofAddr) {
		p.fail("PPROF_ADDR", "profiles expose internals: want a loopback host:port, like 127.0.0.1:6060")
	}
	c.DatabaseURL = p.str("DATABASE_URL", defaultDatabaseURL, false)
	// In --dev, WeChat login is optional: both set → real login, neither →
	// the dev login.
	c.WeChatAppID = p.str("WECHAT_APPID", "", true)
	c.WeChatSecret = p.secret("WECHAT_SECRET", "", true)
	if dev && (c.WeChatAppID == "") != (c.WeChatSecret == "") && !p.failed("WECHAT_SECRET") {
		if c.WeChatAppID == "" {
			p.fail("WECHAT_APPID", "set with WECHAT_SECRET for real WeChat login in --dev, or unset both")
		} else {
			p.fail("WECHAT_SECRET", "set with WECHAT_APPID for real WeChat login in --dev, or unset both")
		}
	}
	c.WeChatAPIBase = p.str("WECHAT_API_BASE", "https://api.weixin.qq.com", false)
	p.url("WECHAT_API_BASE", c.WeChatAPIBase)
	// Content security is on wherever WeChat is (always in production, in
	// --dev with real credentials): turning it off must be said.
	defaultCS := "off"
	if c.WeChatAppID != "" {
		defaultCS = "wechat"
	}
	switch cs := p.str("CONTENT_SECURITY", defaultCS, false); cs {
	case "wechat":
		if c.WeChatAppID == "" {
			p.fail("CONTENT_SECURITY", "wechat needs WECHAT_APPID and WECHAT_SECRET")
		}
		c.ContentSecurity = true
	case "off":
	default:
		p.fail("CONTENT_SECURITY", "%q: want wechat or off", cs)
	}
	c.ContentSecurityFailOpen = p.boolean("CONTENT_SECURITY_FAIL_OPEN", false)
	c.Push.Token = p.secret("WECHAT_PUSH_TOKEN", "", false)
	c.Push.EncodingAESKey = p.secret("WECHAT_PUSH_AES_KEY", "", false)
	switch {
	case c.Push.Token == "" && c.Push.EncodingAESKey != "":
		p.fail("WECHAT_PUSH_TOKEN", "required with WECHAT_PUSH_AES_KEY")
	case c.Push.Token != "" && c.Push.EncodingAESKey == "":
		// In plain mode WeChat's signature covers the Token, timestamp and
		// nonce but not the body: one seen signature (a URL check, a proxy's
		// log) would carry any event, a cancellation among them.
		p.fail("WECHAT_PUSH_AES_KEY", "required with WECHAT_PUSH_TOKEN: choose safe mode (安全模式) in the console; plain pushes are not signed over their body")
	case len(c.Push.Token) > 0 && len(c.Push.Token) < 32:
		p.fail("WECHAT_PUSH_TOKEN", "at least 32 characters: a short one can be found from one logged signature")
	case c.Push.Token != "" && c.WeChatAppID == "":
		if !p.failed("WECHAT_APPID") { // one line for the one mistake
			p.fail("WECHAT_PUSH_TOKEN", "needs WECHAT_APPID: pushes are checked against it")
		}
	case c.Push.Token != "":
		if _, err := wechat.NewPush(c.WeChatAppID, c.Push); err != nil {
			p.fail("WECHAT_PUSH_AES_KEY", "%v", err)
		}
	case c.ContentSecurity && !dev:
		// Without the push, no avatar verdict arrives: every avatar would
		// wait for AVATAR_REVIEW_TIMEOUT and be decided unchecked. (In
		// --dev, WeChat could not fetch a local avatar anyway.)
		p.fail("WECHAT_PUSH_TOKEN", "required with CONTENT_SECURITY=wechat: avatar verdicts arrive by message push (or set CONTENT_SECURITY=off)")
	}
	switch review := p.str("NICKNAME_REVIEW", "reject", false); review {
	case "reject":
	case "accept":
		c.NicknameReviewAccept = true
	default:
		p.fail("NICKNAME_REVIEW", "%q: want reject or accept", review)
	}
	switch review := p.str("AVATAR_REVIEW", "after", false); review {
	case "after":
	case "before":
		c.AvatarReviewHold = true
	default:
		p.fail("AVATAR_REVIEW", "%q: want after or before", review)
	}
	// WeChat pushes its verdict within 30 minutes.
	c.AvatarReviewTimeout = p.duration("AVATAR_REVIEW_TIMEOUT", avatar.DefaultVerdictTimeout, 30*time.Minute, 72*time.Hour)

	if keys := p.secret("JWT_KEYS", devJWTKeys, true); !p.failed("JWT_KEYS") {
		ring, err := auth.ParseKeyRing(keys)
		if err != nil {
			p.fail("JWT_KEYS", "%v (want kid:secret[,kid:secret…], secrets of 32 bytes or more)", err)
		}
		c.JWTKeys = ring
	}
	c.SessionTTL = p.duration("SESSION_TTL", 2*time.Hour, time.Minute, 30*24*time.Hour)

	c.Storage = loadStorage(p, dev)
	c.PublicBaseURL = p.url("PUBLIC_BASE_URL", p.str("PUBLIC_BASE_URL", "", false))

	c.WeChatTimeout = p.duration("WECHAT_TIMEOUT", 5*time.Second, 100*time.Millisecond, 9*time.Second)
	c.UploadMaxBytes = p.integer("UPLOAD_MAX_BYTES", 5<<20, 1, 5<<30)
	// At most 12 h: the bucket's lifecycle rule expires uploads/ after a
	// day (deploy/README.md), which must never reach an upload whose
	// signature is still good.
	c.UploadTTL = p.duration("UPLOAD_TTL", 10*time.Minute, time.Minute, 12*time.Hour)
	d := avatar.DefaultImageLimits
	c.Images.MaxSide = int(p.integer("IMAGE_MAX_SIDE", int64(d.MaxSide), 64, 16384))
	c.Images.MaxPixels = int(p.integer("IMAGE_MAX_PIXELS", int64(d.MaxPixels), 4096, 100_000_000))
	c.Images.MinSide = int(p.integer("IMAGE_MIN_SIDE", int64(d.MinSide), 1, 64))
	c.Images.AvatarSide = int(p.integer("AVATAR_SIDE", int64(d.AvatarSide), 64, 4096))
	c.Images.ThumbSide = int(p.integer("AVATAR_THUMB_SIDE", int64(d.ThumbSide), 16, 1024))
	if c.Images.ThumbSide > c.Images.AvatarSide {
		p.fail("AVATAR_THUMB_SIDE", "%d is larger than AVATAR_SIDE (%d)", c.Images.ThumbSide, c.Images.AvatarSide)
	}
	// Each decoding holds up to UPLOAD_MAX_BYTES and 4 bytes a pixel.
	c.ImageWorkers = int(p.integer("IMAGE_WORKERS", 2, 1, 64))
	c.Limits.UploadsPerMinute = int(p.integer("LIMIT_UPLOADS_PER_MINUTE", 10, 0, 1_000_000))
	c.PendingUploads = int(p.integer("LIMIT_PENDING_UPLOADS", 5, 0, 1_000_000))
	c.Limits.SessionsPerMinute = int(p.integer("LIMIT_SESSIONS_PER_MINUTE", 30, 0, 1_000_000))
	c.Limits.ConfirmsPerMinute = int(p.integer("LIMIT_CONFIRMS_PER_MINUTE", 30, 0, 1_000_000))
	for _, cidr := range strings.FieldsFunc(p.str("TRUSTED_PROXIES", "", false), func(r rune) bool { return r == ',' || r == ' ' }) {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			p.fail("TRUSTED_PROXIES", "%q is not a CIDR like 10.0.0.0/8", cidr)
			break
		}
		c.Limits.TrustedProxies = append(c.Limits.TrustedProxies, n)
	}

	c.SweepInterval = p.duration("SWEEP_INTERVAL", time.Minute, 0, 24*time.Hour)
	c.SweepGrace = p.duration("SWEEP_GRACE", 24*time.Hour, 0, 365*24*time.Hour)
	// At least an hour: a record whose objects were just deleted may still
	// be read by a confirm or a verdict in flight.
	c.UploadRetention = p.duration("UPLOAD_RETENTION", 30*24*time.Hour, time.Hour, 365*24*time.Hour)
	c.DevStorageAddr = p.str("DEV_STORAGE_ADDR", "127.0.0.1:9000", false)
	c.DevStorageDir = p.str("DEV_STORAGE_DIR", "./data/objects", false)
	if f, err := localcos.ParseFaults(p.str("DEV_STORAGE_FAULTS", "", false)); err != nil {
		p.fail("DEV_STORAGE_FAULTS", "%v", err)
	} else {
		c.DevFaults = f
	}
	if dev {
		if !loopback(c.Addr) {
			p.fail("ADDR", "--dev listens on loopback only (127.0.0.1, ::1 or localhost)")
		}
		if !loopback(c.DevStorageAddr) {
			p.fail("DEV_STORAGE_ADDR", "--dev listens on loopback only (127.0.0.1, ::1 or localhost)")
		}
	}
	return c, p.err()
}

// validHostPort reports whether addr is host:port with a port number.
func validHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !validHostPort(addr) {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
