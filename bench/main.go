// Command bench is wxavatar's reproducible load test. From the repository
// root:
//
//	go run ./bench                      # 2 s warm-up + 10 s per scenario, 32 connections
//	go run ./bench -duration 3s -warmup 1s
//
// It builds the service once, starts it in --dev mode on loopback with the
// abuse limits and the sweeper off, and measures with closed-loop keep-alive
// workers, in this order and against the same process(es): GET /healthz (the
// ceiling), POST /v1/avatar/uploads (issuing signatures, by 200 logged-in
// users) and POST /v1/avatar/uploads/{id}/confirm twice: with a 1080×1080
// JPEG of about 300 KB (confirm) and with a 12 MP phone photo of about 3 MB
// carrying EXIF Orientation 6 (confirm-12mp), each request confirming a new
// upload whose photo was really uploaded before the window. The photos are
// generated once per run (photo.go). It does so for each database set
// (-db, sets.go): SQLite with one process, then a throwaway PostgreSQL
// cluster (postgres.go, fsync on) with one process and with two processes
// sharing one database and one object store; the 12 MP confirm runs against
// the first set only. Then, as the peer reference, Uppy
// Companion's S3 presign endpoint (GET /s3/params) in standalone mode on
// loopback with fake credentials. It reports requests/s, exact p50/p99
// latencies, CPU per request (the service's and PostgreSQL's), peak RSS,
// errors and the confirms' documented
// busy answers (503 busy, retried after Retry-After, not errors) per
// scenario, checks the targets, prints a markdown table and writes the
// results as JSON (and the markdown beside it). Nothing is sent anywhere but
// 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	companion   bool
	out         string
	profileDir  string
	users       int
	// Uploads prepared per second of warm-up + window for each confirm
	// scenario, and a cap on the bytes each pool uploads.
	confirmRate     int
	confirm12MPRate int
	poolMiB         int
	keep            bool
	strict          bool
	scenarios       map[string]bool
	dbs             []dbSet
	// dbExplicit: -db was given, so a set that cannot run is an error
	// rather than skipped.
	dbExplicit bool
	// pgTCP: the service connects to PostgreSQL over loopback TCP rather
	// than the Unix socket.
	pgTCP bool
	// storage is the provider the service stores with (STORAGE), its
	// local object server speaking that protocol.
	storage string
}

// allScenarios are the scenarios in the order they run.
var allScenarios = []string{"healthz", "sign", "confirm", "confirm-12mp", "companion"}

// photoScenarios are the confirm scenarios and the photo each uploads.
var photoScenarios = []photoSpec{photo1080, photo12MP}

// benchUploadMaxBytes is UPLOAD_MAX_BYTES for runs with the 12 MP photo: a
// phone's photos may be larger than the service's 5 MiB default.
const benchUploadMaxBytes = 8 << 20

func (o options) want(key string) bool { return o.scenarios[key] }

func parseScenarios(list string) (map[string]bool, error) {
	m := map[string]bool{}
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(allScenarios, k) {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", k, strings.Join(allScenarios, ","))
		}
		m[k] = true
	}
	if len(m) == 0 {
		return nil, errors.New("no scenario")
	}
	return m, nil
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "timed window per scenario")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "untimed warm-up before each scenario's window (same load)")
	flag.IntVar(&o.concurrency, "concurrency", 32, "closed-loop workers, one keep-alive connection each")
	flag.BoolVar(&o.companion, "companion", true, "also measure the peer, Uppy Companion's S3 presign endpoint (needs node and npm)")
	flag.StringVar(&o.out, "out", "", "results file: JSON there and markdown beside it with .md (or the reverse for a .md path); default bench/results/latest.json")
	flag.StringVar(&o.profileDir, "cpuprofile-dir", "", "fetch CPU (5 s) and heap profiles of the service during the signature and both confirm windows (cpu-KEY.pb.gz, heap-KEY.pb.gz; on PostgreSQL cpu-SET-KEY.pb.gz, of the first instance) into this folder, from its own /debug/pprof/ (PPROF_ADDR) or else from net/http/pprof compiled in with a go build -overlay (the tree is untouched)")
	flag.IntVar(&o.users, "users", 200, "dev users logged in to spread the signature and confirm requests over")
	flag.IntVar(&o.confirmRate, "confirm-pool-rate", 100, "uploads of the 1080² photo prepared for the confirm scenario per second of warm-up + window (the pool; the window stops if it runs dry)")
	flag.IntVar(&o.confirm12MPRate, "confirm-12mp-pool-rate", 10, "uploads of the 12 MP photo prepared for the confirm-12mp scenario per second of warm-up + window")
	flag.IntVar(&o.poolMiB, "confirm-pool-mib", 384, "at most this many MiB uploaded for each confirm scenario's pool (the confirmed copies take as much again until confirm re-encodes)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (binary, database, objects, logs)")
	flag.BoolVar(&o.strict, "strict", false, "exit 4 when a target is missed")
	scenarios := flag.String("scenarios", strings.Join(allScenarios, ","), "which scenarios to run, in their fixed order (targets need the full set)")
	flag.StringVar(&o.storage, "storage", "cos", "the storage provider the service runs with (STORAGE: cos, oss or s3), its in-process object server speaking that protocol")
	flag.BoolVar(&o.pgTCP, "pg-tcp", false, "the service connects to PostgreSQL over loopback TCP instead of the cluster's Unix socket")
	dbs := flag.String("db", "sqlite,postgres,postgres-2", "database sets the service's scenarios run against, in this order: sqlite (one process), postgres (one process) and postgres-2 (two processes on one database and one object store, the generator's connections spread over them), each PostgreSQL set on a fresh database of a throwaway cluster (fsync on); healthz, sign and confirm run against each, confirm-12mp against the first only. By default the PostgreSQL sets are skipped, with a note, where its server binaries are missing")
	flag.Parse()
	var err error
	o.scenarios, err = parseScenarios(*scenarios)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -scenarios:", err)
		os.Exit(2)
	}
	if o.dbs, err = parseDBSets(*dbs); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -db:", err)
		os.Exit(2)
	}
	flag.Visit(func(f *flag.Flag) { o.dbExplicit = o.dbExplicit || f.Name == "db" })
	if !o.companion {
		delete(o.scenarios, "companion")
	}
	o.companion = o.want("companion")
	if len(o.scenarios) == 0 {
		fmt.Fprintln(os.Stderr, "bench: no scenario left to run (-scenarios companion with -companion=false)")
		os.Exit(2)
	}
	if _, ok := storageEndpointSetting[o.storage]; !ok {
		fmt.Fprintf(os.Stderr, "bench: -storage %q: want cos, oss or s3\n", o.storage)
		os.Exit(2)
	}
	if flag.NArg() > 0 || o.duration <= 0 || o.warmup < 0 || o.concurrency < 1 || o.users < 1 || o.confirmRate < 1 || o.confirm12MPRate < 1 || o.poolMiB < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// run does the whole benchmark and returns the exit code: 0 for a clean run,
// 3 when a request failed or something left loopback, 4 with -strict when a
// target was missed.
func run(ctx context.Context, o options) (int, error) {
	root, err := repoRoot()
	if err != nil {
		return 1, err
	}
	tmp, err := os.MkdirTemp("", "wxavatar-bench-")
	if err != nil {
		return 1, err
	}
	if o.keep {
		logf("temporary folder kept: %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	rep := &report{Started: time.Now().UTC(), Valid: true, Options: reportOptions{
		Duration: o.duration.String(), Warmup: o.warmup.String(), Concurrency: o.concurrency,
		Users: o.users, Companion: o.companion, Storage: o.storage,
	}}
	rep.Machine = machineInfo(root)
	rep.Command = commandLine()
	companionDir := filepath.Join(root, "bench", "companion")
	if o.companion {
		// Before the service's windows, so that a missing or broken install
		// fails in seconds, not minutes.
		if err := ensureCompanion(ctx, companionDir); err != nil {
			return 1, err
		}
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return 1, err
		}
	}

	// The photos, before the service starts: rendering 13 megapixels takes
	// a core for a second or two.
	photos := map[string][]byte{}
	for _, p := range photoScenarios {
		if !o.want(p.Key) {
			continue
		}
		logf("%s: generating its photo", p.Key)
		b, err := loadPhoto(tmp, p)
		if err != nil {
			return 1, err
		}
		if len(b) > benchUploadMaxBytes {
			return 1, fmt.Errorf("the %s photo (%d bytes) is larger than the UPLOAD_MAX_BYTES the harness sets (%d)", p.Key, len(b), benchUploadMaxBytes)
		}
		photos[p.Key] = b
		rep.note("%s photo: %s", p.Key, p.describe(len(b)))
	}

	if o.want("healthz") || o.want("sign") || o.want("confirm") || o.want("confirm-12mp") {
		bin := filepath.Join(tmp, "wxavatar")
		logf("building ./cmd/wxavatar")
		if err := buildService(ctx, root, tmp, bin, o.profileDir != ""); err != nil {
			return 1, err
		}
		if o.want(photo12MP.Key) {
			rep.note("UPLOAD_MAX_BYTES=%d for the 12 MP photo, in every set (the service's default is 5 MiB)", benchUploadMaxBytes)
		}
		if err := runSets(ctx, o, bin, tmp, photos, rep); err != nil {
			return 1, err
		}
	}
	if o.companion {
		if err := runCompanion(ctx, o, companionDir, tmp, rep); err != nil {
			return 1, err
		}
	}
	rep.Machine.LoadAvgEnd = loadAvg()
	rep.evaluate()

	md := rep.markdown()
	fmt.Print(md)
	jsonPath, mdPath := outputPaths(root, o.out)
	if err := rep.write(jsonPath, mdPath, md); err != nil {
		return 1, err
	}
	logf("results: %s, %s", jsonPath, mdPath)
	switch {
	case !rep.Valid:
		fmt.Fprintln(os.Stderr, "\n"+strings.Repeat("!", 72)+"\nbench: THIS RUN HAD ERRORS: its numbers are not valid (see the table's errors column and the notes)\n"+strings.Repeat("!", 72))
		return 3, nil
	case o.strict && !rep.TargetsMet:
		return 4, nil
	}
	return 0, nil
}

// runSets runs the database sets in order. The PostgreSQL cluster starts
// before the first set that needs it and stops after the last, before
// Companion's window.
func runSets(ctx context.Context, o options, bin, tmp string, photos map[string][]byte, rep *report) error {
	sets, err := postgresSets(o, rep, findPostgres)
	if err != nil {
		return err
	}
	var pg *pgCluster
	defer func() {
		if pg == nil {
			return
		}
		if err := pg.stop(); err != nil {
			rep.note("PostgreSQL did not stop cleanly: %v", err)
		}
	}()
	for i, set := range sets {
		rep.Options.DBs = append(rep.Options.DBs, set.Key)
		rep.Options.PostgresTCP = o.pgTCP
		if set.Postgres && pg == nil {
			if pg, err = startRunCluster(ctx, tmp, rep); err != nil {
				return err
			}
			pg.tcp = o.pgTCP
		}
		if err := runSet(ctx, o, set, i == 0, bin, tmp, photos, pg, rep); err != nil {
			return err
		}
	}
	return nil
}

// postgresSets is o.dbs without the PostgreSQL sets when find finds no
// server binaries and -db did not ask for them: skipped with a note.
func postgresSets(o options, rep *report, find func() (string, error)) ([]dbSet, error) {
	if !slices.ContainsFunc(o.dbs, func(s dbSet) bool { return s.Postgres }) {
		return o.dbs, nil
	}
	bin, err := find()
	switch {
	case err == nil:
		rep.Postgres = &postgresInfo{Bin: bin}
		return o.dbs, nil
	case o.dbExplicit:
		return nil, fmt.Errorf("-db asks for PostgreSQL: %w", err)
	}
	rep.note("PostgreSQL sets SKIPPED: %v (install the server, or run with -db sqlite)", err)
	logf("PostgreSQL sets skipped: %v", err)
	sets := slices.DeleteFunc(slices.Clone(o.dbs), func(s dbSet) bool { return s.Postgres })
	if len(sets) == 0 {
		return nil, errors.New("no database set left to run")
	}
	return sets, nil
}

// startRunCluster starts the run's PostgreSQL cluster in tmp/pg-cluster (the
// sets' folders are named after their keys).
func startRunCluster(ctx context.Context, tmp string, rep *report) (*pgCluster, error) {
	logf("starting a throwaway PostgreSQL cluster (%s)", rep.Postgres.Bin)
	pg, err := startPostgres(ctx, rep.Postgres.Bin, filepath.Join(tmp, "pg-cluster"))
	if err != nil {
		return nil, err
	}
	rep.Postgres.Version, rep.Postgres.Settings = pg.Version, pg.Settings
	logf("%s on 127.0.0.1:%d: %s", pg.Version, pg.port, pg.Settings)
	return pg, nil
}

// confirmPoolSize is how many uploads of photoBytes a confirm scenario
// prepares: rate per second of warm-up + window, but no more than
// -confirm-pool-mib of them, so that the temporary folder stays small.
func confirmPoolSize(o options, key string, photoBytes int) int {
	rate := o.confirmRate
	if key == photo12MP.Key {
		rate = o.confirm12MPRate
	}
	n := int((o.warmup + o.duration).Seconds() * float64(rate))
	if photoBytes > 0 {
		n = min(n, o.poolMiB<<20/photoBytes)
	}
	return max(n, 1)
}

// runCompanion measures the peer with the same generator.
func runCompanion(ctx context.Context, o options, dir, tmp string, rep *report) error {
	logf("starting Uppy Companion (standalone, loopback, fake credentials)")
	c, err := startCompanion(ctx, dir, tmp)
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	c.net = watchNet(watchCtx, c.proc.pid(), 250*time.Millisecond)
	defer func() {
		if serr := c.proc.stop(10 * time.Second); serr != nil && !isSignalExit(serr) {
			rep.note("companion did not exit cleanly on SIGTERM: %v", serr)
		}
	}()
	rep.Companion = &companionInfo{Version: c.version, Node: c.node, Endpoint: "GET " + companionRoute + "?filename=avatar-N.png&type=image/png", StartRSSKiB: c.peaks.startRSS}
	client := newClient(o.concurrency)
	defer client.CloseIdleConnections()
	c.peaks.begin()
	res := measureScenario(ctx, client, companionScenario(c.url), o, cpuMeters{service: processCPU(c.proc.pid())}, nil)
	res.PeakRSSKiB = c.peaks.observe()
	rep.Scenarios = append(rep.Scenarios, res)
	logf("companion: %.0f req/s, p50 %s, p99 %s, peak RSS %s, %d errors", res.RPS, fmtMs(res.P50Ms), fmtMs(res.P99Ms), fmtKiB(res.PeakRSSKiB), res.Errors)
	rep.Companion.PeakRSSKiB = c.peaks.overall
	msg, clean := c.net.result()
	rep.Companion.Network = msg
	if refused := c.refusals(); len(refused) > 0 {
		clean = false
		msg = fmt.Sprintf("netguard refused %d attempts to leave loopback, first: %s", len(refused), refused[0])
		rep.Companion.Network += "; " + msg
	}
	if !clean {
		rep.Valid = false
		rep.note("companion: %s", rep.Companion.Network)
	}
	return ctx.Err()
}

func isSignalExit(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return true
		}
	}
	return false
}

// measureScenario runs the warm-up and the timed window, and measures the
// CPU time the service and the database server spend in the window.
// startProfile, when set, is called as the window starts and returns a
// function that waits for the profiles to be saved.
func measureScenario(ctx context.Context, client *http.Client, sc *scenario, o options, meters cpuMeters, startProfile func(window time.Duration) func()) scenarioResult {
	var seq atomic.Int64
	res := scenarioResult{Name: sc.Name, Key: sc.Key, Process: sc.Process}
	if o.warmup > 0 {
		logf("%s: warm-up %s", sc.Key, o.warmup)
		warm, share := sc, int64(0)
		if sc.pool > 0 {
			// The warm-up's share of the pool, the rest for the window.
			share = warmupShare(sc.pool, o.warmup, o.duration)
			w := *sc
			w.next = func(i int64) (*http.Request, error) {
				if i >= share {
					return nil, errPoolDry
				}
				return sc.next(i)
			}
			warm = &w
		}
		w := runWindow(ctx, client, warm, o.concurrency, o.warmup, &seq)
		res.WarmupErrors, res.WarmupBusy = w.Errors, w.Busy
		if w.PoolDry {
			res.Note = appendNote(res.Note, fmt.Sprintf("warm-up used its share of the pool (%d) in %.2fs", share, w.Elapsed.Seconds()))
		}
		if sc.pool > 0 && seq.Load() > share {
			seq.Store(share) // the workers that found it used up took no upload
		}
	}
	logf("%s: measuring %s", sc.Key, o.duration)
	wait := func() {}
	if startProfile != nil {
		wait = startProfile(o.duration)
	}
	pg := meters.postgres
	if pg == nil {
		pg = func() (time.Duration, error) { return 0, errors.New("no database server") }
	}
	cpu0, cpuErr := meters.service()
	pg0, pgErr := pg()
	st := runWindow(ctx, client, sc, o.concurrency, o.duration, &seq)
	cpu1, cpuErr1 := meters.service()
	pg1, pgErr1 := pg()
	wait()
	res.fill(st)
	perRequest := func(d time.Duration) float64 {
		return float64(d) / float64(time.Microsecond) / float64(st.OK+st.Errors)
	}
	if n := st.OK + st.Errors; cpuErr == nil && cpuErr1 == nil && n > 0 {
		res.CPUPerRequestUs = perRequest(cpu1 - cpu0)
	}
	if n := st.OK + st.Errors; pgErr == nil && pgErr1 == nil && n > 0 {
		us := perRequest(pg1 - pg0)
		res.PostgresCPUPerRequestUs = &us
	}
	if st.PoolDry {
		// The window ends with the last answer to the last upload taken.
		res.Note = appendNote(res.Note, fmt.Sprintf("POOL RAN DRY: the last upload was taken %.2fs and answered %.2fs into the %s window; the rate is over the latter", st.DryAfter.Seconds(), st.Elapsed.Seconds(), o.duration))
	}
	return res
}

// warmupShare is how much of a pool of n the warm-up may use: its part of
// warm-up + window, at least one and leaving the window at least one.
func warmupShare(n int64, warmup, window time.Duration) int64 {
	share := int64(float64(n) * warmup.Seconds() / (warmup + window).Seconds())
	return max(0, min(max(share, 1), n-1))
}

// profile fetches a CPU profile over (most of) the window and a heap profile
// after it, from the service's /debug/pprof/.
func profile(ctx context.Context, base, dir, key string, window time.Duration, rep *report) func() {
	secs := max(1, min(5, int(window.Seconds())))
	client := newClient(1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		path := filepath.Join(dir, "cpu-"+key+".pb.gz")
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs)
		if err := fetchProfile(ctx, client, url, path); err != nil {
			rep.note("pprof %s: %v", key, err)
			return
		}
		rep.addProfile(path)
	}()
	return func() {
		wg.Wait()
		path := filepath.Join(dir, "heap-"+key+".pb.gz")
		if err := fetchProfile(ctx, client, base+"/debug/pprof/heap", path); err != nil {
			rep.note("pprof heap %s: %v", key, err)
			return
		}
		rep.addProfile(path)
	}
}

// repoRoot finds the module root above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/wxavatar/wxavatar\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the wxavatar repository (no go.mod of github.com/wxavatar/wxavatar above the working directory)")
		}
		dir = parent
	}
}

func outputPaths(root, out string) (jsonPath, mdPath string) {
	if out == "" {
		out = filepath.Join(root, "bench", "results", "latest.json")
	}
	base := strings.TrimSuffix(strings.TrimSuffix(out, ".json"), ".md")
	return base + ".json", base + ".md"
}

func commandLine() string {
	args := []string{"go", "run", "./bench"}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \t'\"$") || a == "" {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}
