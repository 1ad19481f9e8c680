package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wxavatar/wxavatar/auth"
	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/db"
	"github.com/wxavatar/wxavatar/handler"
	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/wechat"
)

var errUsage = errors.New("usage: wxavatar serve [--dev] [--env-file .env] | migrate [--env-file .env] | version | help")

// usage is what --help prints.
const usage = `wxavatar keeps a WeChat mini program user's avatar and nickname.

Usage:
  wxavatar serve [--dev] [--env-file FILE]   run the service
  wxavatar migrate [--env-file FILE]         apply the database schema and stop
  wxavatar version                           print the version
  wxavatar help                              print this

Flags:
  --dev            run everything on this machine: local object server, SQLite,
                   dev login (dev-<name> codes, and DevTools' codes as the user
                   "devtools"); loopback only, public keys, never for production
  --env-file FILE  settings file read when present; the environment wins
                   (default .env)

Settings are environment variables. Every one is listed with its default in
.env.example and in the README's "Configuration" table
(https://github.com/wxavatar/wxavatar#configuration). Without --dev, a start
with missing or invalid settings names every one of them, one per line.
`

// shutdownGrace is how long requests in flight may take to finish.
const shutdownGrace = 15 * time.Second

// run is the whole program, with its environment passed in so that tests can
// run it as it runs in production.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runApp(ctx, args, getenv, stdout, stderr, nil)
}

// runApp is run that hands the app, once built and listening, to ready:
// tests read its addresses there.
func runApp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(*app)) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "wxavatar", version())
		return nil
	case "serve", "migrate":
	default:
		return errUsage
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors become errUsage; --help prints usage
	dev := false
	if args[0] == "serve" {
		fs.BoolVar(&dev, "dev", false, "")
	}
	envFile := fs.String("env-file", ".env", "")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return nil
	} else if err != nil {
		return fmt.Errorf("%w (%v)", errUsage, err)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("%w (unexpected %q)", errUsage, fs.Args())
	}
	if args[0] == "migrate" {
		return migrate(ctx, getenv, *envFile, stdout)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Registered before the configuration is read so that a SIGHUP sent
	// during start-up is not fatal; it reloads once serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	load := func() (config, error) {
		src, err := newEnvSource(getenv, *envFile)
		if err != nil {
			return config{}, err
		}
		return loadConfig(dev, src)
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	logger := slog.New(handler.LogHandler(slog.NewJSONHandler(stderr, nil)))
	if cfg.PprofAddr == "" {
		// Nobody can fetch a heap profile, so sampling stops here: the
		// runtime files every sampled allocation's stack in a 1.4 MiB
		// hash table, whose pages a long run touches one by one.
		runtime.MemProfileRate = 0
	}
	if getenv("GOMEMLIMIT") == "" { // read by the Go runtime itself, and then it wins
		debug.SetMemoryLimit(memoryLimit(cfg))
	}
	return serve(ctx, cfg, load, hup, logger, stdout, ready)
}

// baseMemoryLimit is the soft memory limit of everything but decoding: the
// live heap is a few MiB, yet under load the default pacing lets it swell
// to several times that between collections.
const baseMemoryLimit = 20 << 20

// memoryLimit is the Go runtime's soft memory limit: baseMemoryLimit, and
// room for the images confirm decodes at once, each its bytes and its pixels
// at 4 bytes (a PNG's; a JPEG's take 1.5). Below that, the collector would
// run through every decode: a 12 MP photo took 27% longer at 20 MiB.
func memoryLimit(cfg config) int64 {
	return baseMemoryLimit + int64(cfg.ImageWorkers)*(cfg.UploadMaxBytes+4*int64(cfg.Images.MaxPixels))
}

// migrate applies the embedded migrations to DATABASE_URL and stops: deploy
// pipelines run it before rolling out instances. It needs no other setting.
func migrate(ctx context.Context, getenv func(string) string, envFile string, stdout io.Writer) error {
	src, err := newEnvSource(getenv, envFile)
	if err != nil {
		return err
	}
	p := &parser{src: src}
	url := p.str("DATABASE_URL", defaultDatabaseURL, false)
	database, err := db.Open(ctx, url)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer database.Close()
	fmt.Fprintf(stdout, "wxavatar: database schema is current (%d migrations applied now)\n", database.MigrationsApplied())
	return nil
}

// keys are the settings a SIGHUP swaps without a restart.
type keys struct {
	objects provider
	storage storageConfig // as the service started with it
	tokens  *auth.Tokens
	wechat  *auth.WeChat // nil with the dev login
	// wxTokens is the access token of WeChat's server APIs; nil with
	// content security off.
	wxTokens *wechat.Tokens
	// push verifies WeChat's message push; nil without WECHAT_PUSH_TOKEN.
	push *wechat.Push
	// pushSecrets are the ones in force, kept as the previous ones when
	// a reload brings others, so that pushes signed during the change pass.
	pushSecrets wechat.PushSecrets
	// devAccepted is what the in-process object server accepts: in --dev it
	// plays the provider, where old and new keys both work during a
	// rotation.
	devAccepted *atomic.Pointer[[]storage.Credentials]
}

// reload applies the keys of a freshly read configuration. The new
// configuration was validated in full before this is called, so either every
// key is swapped or, on error, none is.
func (k *keys) reload(cfg config, logger *slog.Logger) {
	// Validated by loadConfig, so these cannot fail. Keys of another
	// provider or bucket would sign for a store this client does not talk
	// to: switching takes a restart.
	if cfg.Storage.Provider != k.storage.Provider || cfg.Storage.Bucket != k.storage.Bucket {
		logger.Error("STORAGE or the bucket changed: the storage keys stay as they were until a restart",
			"storage", k.storage.Provider, "bucket", k.storage.Bucket, "new_storage", cfg.Storage.Provider, "new_bucket", cfg.Storage.Bucket)
	} else {
		if k.devAccepted != nil {
			old := *k.devAccepted.Load()
			next := append(append([]storage.Credentials(nil), old...), cfg.Storage.Credentials)
			k.devAccepted.Store(&next)
		}
		k.objects.SetCredentials(cfg.Storage.Credentials)
	}
	if k.wechat != nil && cfg.WeChatSecret != "" { // "" only in --dev, where login stays as it started
		k.wechat.SetSecret(cfg.WeChatSecret)
		if k.wxTokens != nil {
			k.wxTokens.SetSecret(cfg.WeChatSecret)
		}
	}
	k.tokens.SetKeyRing(cfg.JWTKeys)
	if k.push != nil && cfg.Push.Token != "" {
		// Validated by loadConfig. A changed pair keeps the one in force
		// until now accepted until the next reload, which retires it, even
		// when it brings the same pair again.
		var previous []wechat.PushSecrets
		if cfg.Push != k.pushSecrets {
			previous = append(previous, k.pushSecrets)
		}
		if err := k.push.SetSecrets(cfg.Push, previous...); err != nil {
			logger.Error("push secrets refused, old ones stay in force", "error", err.Error())
		} else {
			k.pushSecrets = cfg.Push
		}
	} else if k.push != nil {
		logger.Warn("WECHAT_PUSH_TOKEN unset on reload: /wechat/push keeps its secrets until a restart")
	}
	logger.Info("keys reloaded", "storage", cfg.Storage.Provider, "storage_key_id", cfg.Storage.Credentials.MaskedID(),
		"jwt_kid", cfg.JWTKeys.SigningKID(), "jwt_kids_verifying", strings.Join(cfg.JWTKeys.KIDs(), ","),
		"note", "only the storage credentials, JWT keys, the WeChat secret and the push secrets reload; other settings change at restart")
}

// app is the service built from one configuration: every component wired
// and every listener open and serving. Tests read the listeners' addresses
// from it.
type app struct {
	logger   *slog.Logger
	database *db.DB
	keys     keys
	srvs     *servers
	sweeper  *avatar.Sweeper
	avatars  *avatar.Service
	// Where each listener is; nil for a listener that is off.
	APIAddr, MetricsAddr, StorageAddr, PprofAddr net.Addr
}

// serve builds the app from cfg, hands it to ready (tests; nil in
// production), and runs it until ctx ends or a server fails.
func serve(ctx context.Context, cfg config, load func() (config, error), hup <-chan os.Signal, logger *slog.Logger, stdout io.Writer, ready func(*app)) error {
	a, err := buildApp(ctx, cfg, logger, stdout)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(a)
	}
	return a.run(ctx, load, hup)
}

// buildApp opens the database and every listener and wires the components
// between them. The API listener opens last, so that it is the first to stop
// (see servers.shutdown). On error, whatever it opened is closed.
func buildApp(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) (_ *app, err error) {
	if cfg.Dev {
		fmt.Fprintln(stdout, devWarning)
		logger.Warn("development mode: dev login, local object server, public dev keys; never expose this")
	}
	a := &app{logger: logger, srvs: &servers{logger: logger, errs: make(chan error, 4)}}
	a.database, err = db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	defer func() {
		if err != nil {
			a.srvs.close()
			a.database.Close()
		}
	}()
	k := &a.keys
	if cfg.Dev {
		k.devAccepted = &atomic.Pointer[[]storage.Credentials]{}
		k.devAccepted.Store(&[]storage.Credentials{cfg.Storage.Credentials})
		a.StorageAddr, err = startDevStorage(cfg, k.devAccepted, logger, a.srvs)
		if err != nil {
			return nil, err
		}
		u := &url.URL{Scheme: "http", Host: a.StorageAddr.String()}
		if cfg.Storage.Endpoint == nil {
			cfg.Storage.Endpoint = u
		}
		fmt.Fprintf(stdout, "wxavatar: local object server on %s (%s, bucket %s)\n", u, cfg.Storage.Provider, cfg.Storage.Bucket)
	}
	metrics := handler.NewMetrics()
	k.storage = cfg.Storage
	k.objects, err = newProvider(cfg.Storage, cfg.PublicBaseURL, func(rt http.RoundTripper) http.RoundTripper {
		return metrics.InstrumentTransport(cfg.Storage.Provider, rt)
	})
	if err != nil {
		return nil, err
	}
	var login handler.Login = auth.DevLogin{}
	if cfg.WeChatAppID != "" { // always outside --dev; in --dev when both are set
		k.wechat, err = auth.NewWeChat(cfg.WeChatAPIBase, cfg.WeChatAppID, cfg.WeChatSecret, &http.Client{
			Timeout:   cfg.WeChatTimeout,
			Transport: metrics.InstrumentTransport("wechat", http.DefaultTransport),
		})
		if err != nil {
			return nil, err
		}
		login = k.wechat
		if cfg.Dev {
			fmt.Fprintln(stdout, "wxavatar: --dev with WECHAT_APPID set: real WeChat login (code2Session), everything else local")
		}
	}
	k.tokens, err = auth.NewTokens(cfg.JWTKeys, cfg.SessionTTL, time.Now)
	if err != nil {
		return nil, err
	}
	moderation := avatar.Moderation{AcceptReview: cfg.NicknameReviewAccept, FailOpen: cfg.ContentSecurityFailOpen,
		HoldAvatars: cfg.AvatarReviewHold, VerdictTimeout: cfg.AvatarReviewTimeout}
	if cfg.ContentSecurity {
		wx := &http.Client{Timeout: cfg.WeChatTimeout, Transport: metrics.InstrumentTransport("wechat", http.DefaultTransport)}
		k.wxTokens, err = wechat.NewTokens(cfg.WeChatAPIBase, cfg.WeChatAppID, cfg.WeChatSecret, wx, time.Now)
		if err != nil {
			return nil, err
		}
		checker, err := wechat.NewClient(cfg.WeChatAPIBase, k.wxTokens, wx)
		if err != nil {
			return nil, err
		}
		moderation.Moderator, moderation.Images = moderator{checker}, moderator{checker}
	} else if cfg.WeChatAppID != "" {
		logger.Warn("CONTENT_SECURITY=off: nicknames and avatars are saved without WeChat's content check; mini program review expects it")
	}
	var push handler.PushDecoder
	if cfg.Push.Token != "" {
		if k.push, err = wechat.NewPush(cfg.WeChatAppID, cfg.Push); err != nil {
			return nil, err
		}
		k.pushSecrets, push = cfg.Push, k.push
	}
	avatars, err := avatar.New(avatar.Config{
		Records: a.database, Objects: objects{k.objects}, Logger: logger, Now: time.Now, Events: metrics,
		MaxBytes: cfg.UploadMaxBytes, UploadTTL: cfg.UploadTTL, PendingUploads: cfg.PendingUploads,
		Images: cfg.Images, ImageWorkers: cfg.ImageWorkers, Moderation: moderation,
	})
	if err != nil {
		return nil, err
	}
	a.avatars = avatars
	api, err := handler.New(handler.Deps{
		Logger: logger, Now: time.Now, Login: login, Tokens: k.tokens, Limiter: a.database, Avatars: avatars, Push: push,
		Limits: cfg.Limits, Metrics: metrics,
	})
	if err != nil {
		return nil, err
	}
	a.sweeper = &avatar.Sweeper{Records: a.database, Objects: objects{k.objects}, Logger: logger.With("component", "sweeper"),
		Now: time.Now, Interval: cfg.SweepInterval, Grace: cfg.SweepGrace, Retention: cfg.UploadRetention, Events: metrics}
	if cfg.PprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		a.PprofAddr, err = a.srvs.start("PPROF_ADDR", cfg.PprofAddr, mux, func(s *http.Server) {
			s.WriteTimeout = 2 * time.Minute // CPU profiles take their time
		})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "wxavatar: pprof on http://%s/debug/pprof/\n", a.PprofAddr)
	}
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler())
		a.MetricsAddr, err = a.srvs.start("METRICS_ADDR", cfg.MetricsAddr, mux, nil)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "wxavatar: metrics on http://%s/metrics\n", a.MetricsAddr)
	}
	a.APIAddr, err = a.srvs.start("ADDR", cfg.Addr, api, nil)
	if err != nil {
		return nil, err
	}
	logger.Info("listening", "addr", a.APIAddr.String(), "storage", cfg.Storage.Provider, "bucket", cfg.Storage.Bucket,
		"storage_key_id", cfg.Storage.Credentials.MaskedID(), "jwt_kid", cfg.JWTKeys.SigningKID())
	if len(cfg.Storage.Ignored) > 0 {
		logger.Warn("settings of another storage provider are set and ignored", "storage", cfg.Storage.Provider,
			"ignored", strings.Join(cfg.Storage.Ignored, ","))
	}
	fmt.Fprintf(stdout, "wxavatar: API on http://%s\n", a.APIAddr)
	return a, nil
}

// reviewInterval is how often an instance looks for avatar checks to ask
// for again and verdicts overdue; a check queued by its own confirm is
// asked for at once.
const reviewInterval = 10 * time.Second

// rateLimitPruning is how often idle clients' rate-limit rows are deleted:
// its own schedule, whatever SWEEP_INTERVAL says, since every client
// address adds a row.
const rateLimitPruning = time.Minute

// pruneRateLimits drops, every rateLimitPruning, the rate-limit rows of
// clients idle for a while: the API's limits live in the database, and
// nothing else would ever delete them.
func (a *app) pruneRateLimits(ctx context.Context) {
	t := time.NewTicker(rateLimitPruning)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := a.database.PruneRateLimits(ctx, time.Now()); err != nil && ctx.Err() == nil {
				a.logger.Warn("rate limits not pruned; retried next round", "error", err.Error())
			}
		}
	}
}

// run sweeps and serves until ctx ends or a server stops on its own,
// reloading the keys on each SIGHUP, then drains the servers and closes the
// database.
func (a *app) run(ctx context.Context, load func() (config, error), hup <-chan os.Signal) error {
	defer a.database.Close()
	// A server that stops on its own must not leave the others serving;
	// after a graceful shutdown this is a no-op.
	defer a.srvs.close()
	sweepCtx, stopSweeping := context.WithCancel(context.Background())
	sweeping := make(chan struct{})
	go func() { defer close(sweeping); a.sweeper.Run(sweepCtx) }()
	pruning := make(chan struct{})
	go func() { defer close(pruning); a.pruneRateLimits(sweepCtx) }()
	reviewing := make(chan struct{})
	go func() { defer close(reviewing); a.avatars.RunReviews(sweepCtx, reviewInterval) }()
	defer func() { stopSweeping(); <-sweeping; <-pruning; <-reviewing }()

	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case err := <-a.srvs.errs:
			if !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: %w", err)
			}
			running = false
		case <-hup:
			next, err := load()
			if err != nil {
				a.logger.Error("reload refused, old keys stay in force", "error", err.Error())
				continue
			}
			a.keys.reload(next, a.logger)
		}
	}
	a.logger.Info("shutting down", "grace", shutdownGrace.String())
	return a.srvs.shutdown()
}

// servers are the process's HTTP listeners.
type servers struct {
	logger *slog.Logger
	list   []*http.Server
	lns    []net.Listener // theirs: Close closes only those Serve has begun to use
	errs   chan error     // a server that stopped on its own
}

// start serves h on addr (the setting that names it, for errors); tune, if
// set, adjusts the server's limits.
func (s *servers) start(setting, addr string, h http.Handler, tune func(*http.Server)) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s: %w", setting, addr, err)
	}
	srv := newHTTPServer(h, s.logger)
	if tune != nil {
		tune(srv)
	}
	s.list, s.lns = append(s.list, srv), append(s.lns, ln)
	go func() { s.errs <- srv.Serve(ln) }()
	return ln.Addr(), nil
}

// close stops every server at once, dropping their connections. It closes
// the listeners itself too: a server whose Serve has not begun yet would
// leave its port bound.
func (s *servers) close() {
	for i, srv := range s.list {
		srv.Close()
		s.lns[i].Close()
	}
}

// shutdown drains the servers in the reverse order of their start: the API
// first, so that requests in flight can still reach the local object server
// while they finish.
func (s *servers) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for i := len(s.list) - 1; i >= 0; i-- {
		if err := s.list[i].Shutdown(ctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	return nil
}

// newHTTPServer bounds how long a slow client can hold a connection and how
// much header it can send.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

func startDevStorage(cfg config, accepted *atomic.Pointer[[]storage.Credentials], logger *slog.Logger, srvs *servers) (net.Addr, error) {
	region := cfg.Storage.Region
	if cfg.Storage.Provider == providerCOS {
		region = "" // COS's signatures name no region
	}
	local, err := localcos.New(localcos.Config{
		Dir:      cfg.DevStorageDir,
		Bucket:   cfg.Storage.Bucket,
		Protocol: localcos.Protocol(cfg.Storage.Provider),
		Region:   region,
		// As the production bucket's policy does (deploy/README.md, "Bucket
		// setup"): only the avatars are public.
		PublicPrefixes: []string{avatar.PublicPrefix},
		Credentials: func() []localcos.Key {
			creds := *accepted.Load()
			keys := make([]localcos.Key, len(creds))
			for i, c := range creds {
				keys[i] = localcos.Key{SecretID: c.SecretID, SecretKey: c.SecretKey, SessionToken: c.SessionToken}
			}
			return keys
		},
		Logger: logger.With("component", "local-object-server"),
	})
	if err != nil {
		return nil, fmt.Errorf("local object server: %w", err)
	}
	var h http.Handler = local
	if cfg.DevFaults != (localcos.FaultConfig{}) {
		faults := localcos.NewFaults(local)
		faults.Set(cfg.DevFaults)
		h = faults
		logger.Warn("local object server injects faults", "latency", cfg.DevFaults.Latency.String(),
			"error_rate", cfg.DevFaults.ErrorRate, "drop_rate", cfg.DevFaults.DropRate)
	}
	addr, err := srvs.start("DEV_STORAGE_ADDR", cfg.DevStorageAddr, h, func(s *http.Server) {
		// Uploads of several MiB from a slow phone need more than the
		// API's read timeout.
		s.ReadTimeout, s.WriteTimeout = 5*time.Minute, 5*time.Minute
	})
	if err != nil {
		return nil, err
	}
	return addr, nil
}

const devWarning = `
  ************************************************************************
  *  wxavatar --dev: DEVELOPMENT MODE. NOT FOR PRODUCTION.               *
  *  Anyone can log in with the code "dev-<name>"; the storage and JWT   *
  *  keys are public dev values; objects live in a local folder.          *
  *  Loopback only.                                                       *
  ************************************************************************`
