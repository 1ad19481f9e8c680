package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// dbSet is a database configuration the service's scenarios run against:
// each set has its own database, object folder and service processes.
type dbSet struct {
	Key       string // its -db name
	Label     string // in the table
	Postgres  bool
	Instances int // service processes behind the one generator
}

// allDBSets are the sets in the order they run.
var allDBSets = []dbSet{
	{Key: "sqlite", Label: "SQLite", Instances: 1},
	{Key: "postgres", Label: "PostgreSQL", Postgres: true, Instances: 1},
	{Key: "postgres-2", Label: "PostgreSQL ×2", Postgres: true, Instances: 2},
}

// perDBScenarios run against every set; the others that concern the service
// (the 12 MP confirm) only against the first set, to keep the run short: the
// database does little in them.
var perDBScenarios = []string{"healthz", "sign", "confirm"}

func parseDBSets(list string) ([]dbSet, error) {
	want := map[string]bool{}
	var known []string
	for _, s := range allDBSets {
		known = append(known, s.Key)
	}
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("unknown database set %q (known: %s)", k, strings.Join(known, ","))
		}
		want[k] = true
	}
	var sets []dbSet
	for _, s := range allDBSets {
		if want[s.Key] {
			sets = append(sets, s)
		}
	}
	if len(sets) == 0 {
		return nil, errors.New("no database set")
	}
	return sets, nil
}

func dbLabel(key string) string {
	for _, s := range allDBSets {
		if s.Key == key {
			return s.Label
		}
	}
	return key
}

// profileKey names a window's profiles: the scenario's key, prefixed with
// the set's for every set but SQLite (whose names predate the sets).
func profileKey(set, scenario string) string {
	if set == "sqlite" {
		return scenario
	}
	return set + "-" + scenario
}

// cpuMeters read the CPU time so far of what a window is charged to.
type cpuMeters struct {
	service  func() (time.Duration, error) // the service's processes, summed
	postgres func() (time.Duration, error) // the database server's; nil without one
}

// processCPU sums the CPU time of processes (no children: the service and
// Companion start none).
func processCPU(pids ...int) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		var sum time.Duration
		for _, pid := range pids {
			d, err := readCPU(pid)
			if err != nil {
				return 0, err
			}
			sum += d
		}
		return sum, nil
	}
}

// runSet measures the service scenarios of one database set. With
// withExtras it also runs the scenarios that run only once (confirm-12mp).
// pg is the run's cluster for the PostgreSQL sets.
func runSet(ctx context.Context, o options, set dbSet, withExtras bool, bin, tmp string, photos map[string][]byte, pg *pgCluster, rep *report) (err error) {
	want := func(key string) bool {
		return o.want(key) && (withExtras || slices.Contains(perDBScenarios, key))
	}
	dir := filepath.Join(tmp, set.Key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !o.keep {
		// The confirm pools' photos: up to a few hundred MB per set.
		defer os.RemoveAll(dir)
	}
	dbURL := "sqlite:" + filepath.Join(dir, "bench.db")
	if set.Postgres {
		name := "bench_" + strings.ReplaceAll(set.Key, "-", "_")
		if dbURL, err = pg.createDatabase(ctx, name); err != nil {
			return err
		}
		if !o.keep {
			// Deferred before the services' stops, so it runs after them.
			defer func() {
				if derr := pg.dropDatabase(context.Background(), name); derr != nil {
					rep.note("%s: drop database %s: %v", set.Label, name, derr)
				}
			}()
		}
	}
	extraEnv := []string{"STORAGE=" + o.storage}
	if o.want(photo12MP.Key) {
		// In every set, so that the sets differ by their database only.
		extraEnv = append(extraEnv, fmt.Sprintf("UPLOAD_MAX_BYTES=%d", benchUploadMaxBytes))
	}

	var svcs []*service
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	for i := range set.Instances {
		name := "wxavatar"
		if set.Instances > 1 {
			name = fmt.Sprintf("wxavatar-%d", i+1)
		}
		var pprofPorts []int
		if o.profileDir != "" && i == 0 { // the first instance stands for the others
			for range 2 {
				p, err := freeLoopbackPort()
				if err != nil {
					return err
				}
				pprofPorts = append(pprofPorts, p)
			}
		}
		env, storage := extraEnv, filepath.Join(dir, "objects")
		if i > 0 {
			// One bucket for every instance, as in production: the first
			// instance's object server. The others' own (which --dev always
			// starts) get a folder of their own and stay idle;
			// checkSharedStore proves it.
			env = append(slices.Clone(env), storageEndpointSetting[o.storage]+"="+svcs[0].objects)
			storage = filepath.Join(dir, fmt.Sprintf("objects-idle-%d", i+1))
		}
		logf("%s: starting %s (serve --dev)", set.Label, name)
		svc, err := startService(ctx, name, bin, dir, dbURL, storage, pprofPorts, env)
		if err != nil {
			return err
		}
		svc.net = watchNet(watchCtx, svc.proc.pid(), 250*time.Millisecond)
		defer func() {
			if serr := svc.proc.stop(20 * time.Second); serr != nil {
				rep.note("%s: %s did not exit cleanly on SIGTERM: %v", set.Label, name, serr)
			}
		}()
		svcs = append(svcs, svc)
	}
	first := svcs[0]
	if o.profileDir != "" {
		if first.pprof == "" {
			rep.note("%s: -cpuprofile-dir: no /debug/pprof/ answered (PPROF_ADDR, the API, the overlay's BENCH_PPROF_ADDR): profiles skipped", set.Label)
		} else {
			rep.note("%s: -cpuprofile-dir: profiles from %s/debug/pprof/ of the first instance (the service was built with the harness's pprof overlay; profiling costs some throughput)", set.Label, first.pprof)
		}
	}
	var hosts []string // the generator's spread over the instances
	if len(svcs) > 1 {
		for _, s := range svcs {
			hosts = append(hosts, strings.TrimPrefix(s.api, "http://"))
		}
	}
	pids := make([]int, len(svcs))
	for i, s := range svcs {
		pids[i] = s.proc.pid()
	}
	meters := cpuMeters{service: processCPU(pids...)}
	if set.Postgres {
		meters.postgres = pg.cpu
	}
	client := newClient(o.concurrency)
	defer client.CloseIdleConnections()

	var auths []string
	if want("sign") || want("confirm") || want("confirm-12mp") {
		// Through the first instance: a session is good on every one.
		logf("%s: logging in %d users", set.Label, o.users)
		if auths, err = login(ctx, client, first.api, o.users, o.concurrency); err != nil {
			return err
		}
		for _, s := range svcs[1:] {
			if err := checkSharedStore(ctx, client, s.api, auths[0], first.objects); err != nil {
				return err
			}
		}
	}

	measure := func(sc *scenario, prof bool) error {
		for _, s := range svcs {
			if s.proc.exited() {
				return fmt.Errorf("%s exited (%v); its log: %s\n%s", s.proc.name, s.proc.exitErr(), s.proc.log, tail(s.proc.log, 2000))
			}
			s.peaks.begin()
		}
		sc.hosts = hosts
		res := measureScenario(ctx, client, sc, o, meters, func(window time.Duration) func() {
			if !prof || first.pprof == "" {
				return func() {}
			}
			return profile(ctx, first.pprof, o.profileDir, profileKey(set.Key, sc.Key), window, rep)
		})
		res.DB, res.Instances = set.Key, set.Instances
		for _, s := range svcs {
			peak := s.peaks.observe()
			res.PeakRSSKiB = max(res.PeakRSSKiB, peak)
			if len(svcs) > 1 {
				res.PeakRSSKiBInstances = append(res.PeakRSSKiBInstances, peak)
			}
		}
		if !first.peaks.canReset {
			res.Note = appendNote(res.Note, "peak since start: clear_refs not writable")
		}
		if first.pprof != "" {
			res.Note = appendNote(res.Note, goMemory(ctx, first.pprof))
		}
		rep.Scenarios = append(rep.Scenarios, res)
		logf("%s %s: %.0f req/s, p50 %s, p99 %s, CPU/request %s (PostgreSQL %s), peak RSS %s, %d errors, %d busy", set.Label, sc.Key, res.RPS, fmtMs(res.P50Ms), fmtMs(res.P99Ms), fmtCPU(res.CPUPerRequestUs), fmtPGCPU(res.PostgresCPUPerRequestUs), fmtKiB(res.PeakRSSKiB), res.Errors, res.Busy)
		return ctx.Err()
	}

	if want("healthz") {
		if err := measure(healthzScenario(first.api), false); err != nil {
			return err
		}
	}
	if want("sign") {
		if err := measure(signScenario(first.api, auths), true); err != nil {
			return err
		}
	}
	for _, p := range photoScenarios {
		if want(p.Key) {
			if err := runConfirm(ctx, o, set, client, first.api, auths, p, photos[p.Key], rep, measure); err != nil {
				return err
			}
		}
	}

	for i, s := range svcs {
		s.peaks.observe()
		info := processInfo{DB: set.Key, Instance: i + 1, StartRSSKiB: s.peaks.startRSS, PeakRSSKiB: s.peaks.overall}
		if m, err := readMem(s.proc.pid()); err == nil {
			info.EndRSSKiB = m.RSSKiB
		}
		msg, clean := s.net.result()
		info.Network = msg
		if !clean {
			rep.Valid = false
			rep.note("%s: %s: %s", set.Label, s.proc.name, msg)
		}
		rep.Services = append(rep.Services, info)
	}
	return nil
}

// runConfirm prepares the pool of really uploaded photos, then measures
// confirming them, one new upload per request. The pool is signed through
// the first instance; its uploads are confirmed through every instance.
func runConfirm(ctx context.Context, o options, set dbSet, client *http.Client, api string, auths []string, p photoSpec, photo []byte, rep *report, measure func(*scenario, bool) error) error {
	n := confirmPoolSize(o, p.Key, len(photo))
	if p.Key == photo12MP.Key {
		rep.Options.Confirm12MPPool = n
	} else {
		rep.Options.ConfirmPool = n
	}
	logf("%s %s: preparing %d uploads (sign + PUT of a %d-byte JPEG through the local object server)", set.Label, p.Key, n, len(photo))
	t0 := time.Now()
	pool, err := prepareUploads(ctx, client, api, auths, newPhotoUpload(photo), n, o.concurrency, func(done int) {
		logf("%s %s: %d/%d prepared", set.Label, p.Key, done, n)
	})
	if err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	rep.note("%s %s pool: %d uploads (%s) signed and uploaded in %.1fs before the window (%.0f/s)", set.Label, p.Key, n, fmtBytes(int64(n)*int64(len(photo))), secs, float64(n)/secs)
	return measure(confirmScenario(p, api, pool), true)
}

// storageEndpointSetting names, for each provider, the setting that points
// an instance at another's object server.
var storageEndpointSetting = map[string]string{"cos": "COS_BUCKET_URL", "oss": "OSS_ENDPOINT", "s3": "S3_ENDPOINT"}
