// Command bench is wxavatar's reproducible load test. From the repository
// root:
//
//	go run ./bench                      # 2 s warm-up + 10 s per scenario, 32 connections
//	go run ./bench -duration 3s -warmup 1s
//
// It builds the service once, starts it in --dev mode on loopback with the
// abuse limits and the sweeper off, and measures with closed-loop keep-alive
// workers, in this order and against the same process: GET /healthz (the
// ceiling), POST /v1/avatar/uploads (issuing signatures, by 200 logged-in
// users) and POST /v1/avatar/uploads/{id}/confirm (each request confirms a
// new upload whose PNG was really uploaded before the window). Then, as the
// peer reference, Uppy Companion's S3 presign endpoint (GET /s3/params) in
// standalone mode on loopback with fake credentials. It reports requests/s,
// exact p50/p99 latencies, peak RSS and errors per scenario, checks the
// targets, prints a markdown table and writes the results as JSON (and the
// markdown beside it). Nothing is sent anywhere but 127.0.0.1.
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
	confirmRate int
	keep        bool
	strict      bool
	scenarios   map[string]bool
}

// allScenarios are the scenarios in the order they run.
var allScenarios = []string{"healthz", "sign", "confirm", "companion"}

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
	flag.StringVar(&o.profileDir, "cpuprofile-dir", "", "fetch CPU (5 s) and heap profiles of the service during the signature and confirm windows into this folder, from its own /debug/pprof/ (PPROF_ADDR) or else from net/http/pprof compiled in with a go build -overlay (the tree is untouched)")
	flag.IntVar(&o.users, "users", 200, "dev users logged in to spread the signature and confirm requests over")
	flag.IntVar(&o.confirmRate, "confirm-pool-rate", 4000, "uploads prepared for the confirm scenario per second of warm-up + window (the pool; the window stops if it runs dry)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (binary, database, objects, logs)")
	flag.BoolVar(&o.strict, "strict", false, "exit 4 when a target is missed")
	scenarios := flag.String("scenarios", strings.Join(allScenarios, ","), "which scenarios to run, in their fixed order (targets need the full set)")
	flag.Parse()
	var err error
	o.scenarios, err = parseScenarios(*scenarios)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -scenarios:", err)
		os.Exit(2)
	}
	if !o.companion {
		delete(o.scenarios, "companion")
	}
	o.companion = o.want("companion")
	if len(o.scenarios) == 0 {
		fmt.Fprintln(os.Stderr, "bench: no scenario left to run (-scenarios companion with -companion=false)")
		os.Exit(2)
	}
	if flag.NArg() > 0 || o.duration <= 0 || o.warmup < 0 || o.concurrency < 1 || o.users < 1 || o.confirmRate < 1 {
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
		Users: o.users, ConfirmPool: confirmPoolSize(o), Companion: o.companion,
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

	if o.want("healthz") || o.want("sign") || o.want("confirm") {
		bin := filepath.Join(tmp, "wxavatar")
		logf("building ./cmd/wxavatar")
		if err := buildService(ctx, root, tmp, bin, o.profileDir != ""); err != nil {
			return 1, err
		}
		if err := runService(ctx, o, bin, tmp, rep); err != nil {
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

func confirmPoolSize(o options) int {
	return int((o.warmup + o.duration).Seconds() * float64(o.confirmRate))
}

// runService measures the three wxavatar scenarios against one process.
func runService(ctx context.Context, o options, bin, tmp string, rep *report) (err error) {
	var pprofPorts []int
	if o.profileDir != "" {
		for range 2 {
			p, err := freeLoopbackPort()
			if err != nil {
				return err
			}
			pprofPorts = append(pprofPorts, p)
		}
	}
	logf("starting wxavatar serve --dev")
	svc, err := startService(ctx, bin, tmp, pprofPorts)
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	svc.net = watchNet(watchCtx, svc.proc.pid(), 250*time.Millisecond)
	defer func() {
		if serr := svc.proc.stop(20 * time.Second); serr != nil {
			rep.note("wxavatar did not exit cleanly on SIGTERM: %v", serr)
		}
	}()
	rep.Wxavatar.StartRSSKiB = svc.peaks.startRSS
	if o.profileDir != "" {
		if svc.pprof == "" {
			rep.note("-cpuprofile-dir: no /debug/pprof/ answered (PPROF_ADDR, the API, the overlay's BENCH_PPROF_ADDR): profiles skipped")
		} else {
			rep.note("-cpuprofile-dir: profiles from %s/debug/pprof/ (the service was built with the harness's pprof overlay; profiling costs some throughput)", svc.pprof)
		}
	}
	client := newClient(o.concurrency)
	defer client.CloseIdleConnections()

	var auths []string
	if o.want("sign") || o.want("confirm") {
		logf("logging in %d users", o.users)
		if auths, err = login(ctx, client, svc.api, o.users, o.concurrency); err != nil {
			return err
		}
	}

	measure := func(sc *scenario, prof bool) error {
		if svc.proc.exited() {
			return fmt.Errorf("wxavatar exited (%v); its log: %s\n%s", svc.proc.exitErr(), svc.proc.log, tail(svc.proc.log, 2000))
		}
		svc.peaks.begin()
		res := measureScenario(ctx, client, sc, o, svc.proc.pid(), func(window time.Duration) func() {
			if !prof || svc.pprof == "" {
				return func() {}
			}
			return profile(ctx, svc.pprof, o.profileDir, sc.Key, window, rep)
		})
		res.PeakRSSKiB = svc.peaks.observe()
		if !svc.peaks.canReset {
			res.Note = appendNote(res.Note, "peak since start: clear_refs not writable")
		}
		if svc.pprof != "" {
			res.Note = appendNote(res.Note, goMemory(ctx, svc.pprof))
		}
		rep.Scenarios = append(rep.Scenarios, res)
		logf("%s: %.0f req/s, p50 %s, p99 %s, peak RSS %s, %d errors", sc.Key, res.RPS, fmtMs(res.P50Ms), fmtMs(res.P99Ms), fmtKiB(res.PeakRSSKiB), res.Errors)
		return ctx.Err()
	}

	if o.want("healthz") {
		if err := measure(healthzScenario(svc.api), false); err != nil {
			return err
		}
	}
	if o.want("sign") {
		if err := measure(signScenario(svc.api, auths), true); err != nil {
			return err
		}
	}
	if o.want("confirm") {
		if err := runConfirm(ctx, o, client, svc, auths, rep, measure); err != nil {
			return err
		}
	}

	svc.peaks.observe()
	rep.Wxavatar.PeakRSSKiB = svc.peaks.overall
	if m, err := readMem(svc.proc.pid()); err == nil {
		rep.Wxavatar.EndRSSKiB = m.RSSKiB
	}
	msg, clean := svc.net.result()
	rep.Wxavatar.Network = msg
	if !clean {
		rep.Valid = false
		rep.note("wxavatar: %s", msg)
	}
	return nil
}

// runConfirm prepares the pool of really uploaded uploads, then measures
// confirming them, one new upload per request.
func runConfirm(ctx context.Context, o options, client *http.Client, svc *service, auths []string, rep *report, measure func(*scenario, bool) error) error {
	n := confirmPoolSize(o)
	logf("confirm: preparing %d uploads (sign + PUT of a %d-byte PNG through the local object server)", n, len(avatarPNG))
	t0 := time.Now()
	pool, err := prepareUploads(ctx, client, svc.api, auths, n, o.concurrency, func(done int) {
		logf("confirm: %d/%d prepared", done, n)
	})
	if err != nil {
		return err
	}
	rep.note("confirm pool: %d uploads signed and uploaded in %.1fs before the window (%.0f/s)", n, time.Since(t0).Seconds(), float64(n)/time.Since(t0).Seconds())
	return measure(confirmScenario(svc.api, pool), true)
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
	res := measureScenario(ctx, client, companionScenario(c.url), o, c.proc.pid(), nil)
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
// CPU time process pid spends in the window. startProfile, when set, is
// called as the window starts and returns a function that waits for the
// profiles to be saved.
func measureScenario(ctx context.Context, client *http.Client, sc *scenario, o options, pid int, startProfile func(window time.Duration) func()) scenarioResult {
	var seq atomic.Int64
	res := scenarioResult{Name: sc.Name, Key: sc.Key, Process: sc.Process}
	if o.warmup > 0 {
		logf("%s: warm-up %s", sc.Key, o.warmup)
		w := runWindow(ctx, client, sc, o.concurrency, o.warmup, &seq)
		res.WarmupErrors = w.Errors
		if w.PoolDry {
			res.Note = appendNote(res.Note, "pool ran dry during the warm-up")
		}
	}
	logf("%s: measuring %s", sc.Key, o.duration)
	wait := func() {}
	if startProfile != nil {
		wait = startProfile(o.duration)
	}
	cpu0, cpuErr := readCPU(pid)
	st := runWindow(ctx, client, sc, o.concurrency, o.duration, &seq)
	cpu1, cpuErr1 := readCPU(pid)
	wait()
	res.fill(st)
	if n := st.OK + st.Errors; cpuErr == nil && cpuErr1 == nil && n > 0 {
		res.CPUPerRequestUs = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(n)
	}
	if st.PoolDry {
		res.Note = appendNote(res.Note, fmt.Sprintf("POOL RAN DRY after %.2fs of the %s window: the rate is over that time", st.DryAfter.Seconds(), o.duration))
	}
	return res
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
