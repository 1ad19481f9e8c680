package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Targets (issue 14 item 4; the confirm ones, issue 15 item 6; PostgreSQL
// against SQLite, issue 17 item 2).
const (
	targetSignVsHealthz     = 0.40  // signatures ≥ 40% of /healthz req/s
	targetSignVsCompanion   = 20.0  // signatures ≥ 20× Companion's presign req/s
	targetP99VsHealthz      = 3.0   // signature p99 ≤ 3× /healthz p99
	targetPeakRSSMiB        = 30.0  // wxavatar peak RSS over the run
	targetConfirmCPUMs      = 60.0  // CPU per confirm of the 1080² photo
	targetConfirm12MPCPUMs  = 400.0 // CPU per confirm of the 12 MP photo
	targetConfirm12MPRSSMiB = 200.0 // wxavatar peak RSS during the 12 MP scenario
	// wxavatar's CPU per signature, and per 1080² confirm, on each
	// PostgreSQL set ≤ this many times SQLite's in the same run; its
	// signature p99 ≤ targetP99VsHealthz × the same set's /healthz p99.
	targetPGCPUVsSQLite = 1.5
)

type report struct {
	mu        sync.Mutex
	Started   time.Time        `json:"started"`
	Command   string           `json:"command"`
	Machine   machine          `json:"machine"`
	Options   reportOptions    `json:"options"`
	Scenarios []scenarioResult `json:"scenarios"`
	// Services are the wxavatar processes, one per instance of each set.
	Services   []processInfo  `json:"services"`
	Postgres   *postgresInfo  `json:"postgres,omitempty"`
	Companion  *companionInfo `json:"companion,omitempty"`
	Targets    []targetCheck  `json:"targets"`
	TargetsMet bool           `json:"targets_met"`
	// Valid is false when any request failed (warm-up included) or a
	// process talked to anything but loopback.
	Valid    bool     `json:"valid"`
	Notes    []string `json:"notes,omitempty"`
	Profiles []string `json:"profiles,omitempty"`
}

type machine struct {
	CPUs         int    `json:"cpus"`
	CPUModel     string `json:"cpu_model"`
	MemTotalMiB  int64  `json:"mem_total_mib"`
	Kernel       string `json:"kernel"`
	Go           string `json:"go"`
	Node         string `json:"node,omitempty"`
	Commit       string `json:"commit"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
}

type reportOptions struct {
	Duration    string `json:"duration"`
	Warmup      string `json:"warmup"`
	Concurrency int    `json:"concurrency"`
	Users       int    `json:"users"`
	ConfirmPool int    `json:"confirm_pool"`
	// Confirm12MPPool is the confirm-12mp scenario's pool.
	Confirm12MPPool int      `json:"confirm_12mp_pool"`
	Companion       bool     `json:"companion"`
	DBs             []string `json:"dbs"`          // the database sets run
	PostgresTCP     bool     `json:"postgres_tcp"` // over loopback TCP, not the Unix socket
	Storage         string   `json:"storage"`      // STORAGE: cos, oss or s3
}

type processInfo struct {
	DB          string `json:"db"`       // its database set
	Instance    int    `json:"instance"` // from 1
	StartRSSKiB int64  `json:"start_rss_kib"`
	EndRSSKiB   int64  `json:"end_rss_kib"`
	PeakRSSKiB  int64  `json:"peak_rss_kib"` // over the whole run
	Network     string `json:"network"`
}

// postgresInfo describes the run's throwaway cluster.
type postgresInfo struct {
	Bin      string `json:"bin"`
	Version  string `json:"version"`
	Settings string `json:"settings"`
}

type companionInfo struct {
	Version     string `json:"version"`
	Node        string `json:"node"`
	Endpoint    string `json:"endpoint"`
	StartRSSKiB int64  `json:"start_rss_kib"`
	PeakRSSKiB  int64  `json:"peak_rss_kib"`
	Network     string `json:"network"`
}

type scenarioResult struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	// DB is the database set (sqlite, postgres, postgres-2); "" for the
	// peer. Instances is how many service processes served the window.
	DB           string `json:"db,omitempty"`
	Instances    int    `json:"instances,omitempty"`
	Process      string `json:"process"`
	Requests     int64  `json:"requests"` // successful, in the window
	Errors       int64  `json:"errors"`   // in the window
	WarmupErrors int64  `json:"warmup_errors"`
	// Busy counts the documented busy answers (503 busy with Retry-After)
	// in the window: not errors, the request was sent again after
	// Retry-After. Only the confirm scenarios accept them.
	Busy           int64    `json:"busy"`
	WarmupBusy     int64    `json:"warmup_busy"`
	ErrorSamples   []string `json:"error_samples,omitempty"`
	ElapsedSeconds float64  `json:"elapsed_seconds"`
	RPS            float64  `json:"rps"`
	P50Ms          float64  `json:"p50_ms"`
	P90Ms          float64  `json:"p90_ms"`
	P99Ms          float64  `json:"p99_ms"`
	MaxMs          float64  `json:"max_ms"`
	MeanMs         float64  `json:"mean_ms"`
	PeakRSSKiB     int64    `json:"peak_rss_kib"` // warm-up and window; the largest instance's
	// PeakRSSKiBInstances is each instance's peak, with several.
	PeakRSSKiBInstances []int64 `json:"peak_rss_kib_instances,omitempty"`
	// CPUPerRequestUs is the process's CPU time (user + system) over the
	// window per request: steadier than req/s on a shared machine, and
	// free of the generator's share. Busy answers are not requests here:
	// their (small) CPU counts towards the requests answered.
	CPUPerRequestUs float64 `json:"cpu_us_per_request"`
	// PostgresCPUPerRequestUs is the PostgreSQL cluster's CPU time (the
	// postmaster and all its processes) over the window per request; nil
	// without PostgreSQL. Zero is a figure: /healthz asks nothing of it.
	PostgresCPUPerRequestUs *float64 `json:"postgres_cpu_us_per_request,omitempty"`
	Note                    string   `json:"note,omitempty"`
}

type targetCheck struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met"` // nil: not measured in this run
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *scenarioResult) fill(st stats) {
	r.Requests, r.Errors, r.Busy, r.ErrorSamples = st.OK, st.Errors, st.Busy, st.Samples
	r.ElapsedSeconds = st.Elapsed.Seconds()
	r.RPS = st.rate()
	r.P50Ms = ms(percentile(st.Latencies, 50))
	r.P90Ms = ms(percentile(st.Latencies, 90))
	r.P99Ms = ms(percentile(st.Latencies, 99))
	r.MaxMs = ms(percentile(st.Latencies, 100))
	r.MeanMs = ms(mean(st.Latencies))
}

func appendNote(note, more string) string {
	if note == "" {
		return more
	}
	return note + "; " + more
}

func (r *report) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *report) addProfile(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Profiles = append(r.Profiles, path)
}

// scenario is the result of scenario key against database set db ("" for
// the peer).
func (r *report) scenario(db, key string) *scenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].DB == db && r.Scenarios[i].Key == key {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// anyScenario is the first result of scenario key, whatever its set: for
// the scenarios that run once.
func (r *report) anyScenario(key string) *scenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].Key == key {
			return &r.Scenarios[i]
		}
	}
	return nil
}

func (r *report) service(db string, instance int) *processInfo {
	for i := range r.Services {
		if r.Services[i].DB == db && r.Services[i].Instance == instance {
			return &r.Services[i]
		}
	}
	return nil
}

// evaluate decides validity and checks the targets: issue 14's and 15's on
// the SQLite set (the 12 MP ones on whichever set ran that scenario), and
// for each PostgreSQL set its CPU against SQLite's and its signature p99
// against its own /healthz p99.
func (r *report) evaluate() {
	for _, s := range r.Scenarios {
		if s.Errors > 0 || s.WarmupErrors > 0 || s.Requests == 0 {
			r.Valid = false
		}
	}
	health, sign, confirm := r.scenario("sqlite", "healthz"), r.scenario("sqlite", "sign"), r.scenario("sqlite", "confirm")
	comp, confirm12 := r.scenario("", "companion"), r.anyScenario("confirm-12mp")
	check := func(target, measured string, ok bool, have bool) {
		t := targetCheck{Target: target, Measured: measured}
		if have {
			t.Met = &ok
		}
		r.Targets = append(r.Targets, t)
	}
	if health != nil && sign != nil && health.RPS > 0 {
		ratio := sign.RPS / health.RPS
		check(fmt.Sprintf("SQLite: signatures ≥ %.0f%% of `/healthz` req/s", targetSignVsHealthz*100),
			fmt.Sprintf("%.0f%% (%s / %s)", ratio*100, fmtRPS(sign.RPS), fmtRPS(health.RPS)), ratio >= targetSignVsHealthz, true)
	}
	compTarget := fmt.Sprintf("SQLite: signatures ≥ %.0f× Companion's presign req/s", targetSignVsCompanion)
	if sign != nil && comp != nil && comp.RPS > 0 {
		ratio := sign.RPS / comp.RPS
		check(compTarget, fmt.Sprintf("%.1f× (%s / %s)", ratio, fmtRPS(sign.RPS), fmtRPS(comp.RPS)), ratio >= targetSignVsCompanion, true)
	} else {
		check(compTarget, "not measured in this run", false, false)
	}
	p99Target := func(label string, health, sign *scenarioResult) {
		if health != nil && sign != nil && health.P99Ms > 0 {
			ratio := sign.P99Ms / health.P99Ms
			check(fmt.Sprintf("%s: signature p99 ≤ %.0f× `/healthz` p99", label, targetP99VsHealthz),
				fmt.Sprintf("%.1f× (%s / %s)", ratio, fmtMs(sign.P99Ms), fmtMs(health.P99Ms)), ratio <= targetP99VsHealthz, true)
		}
	}
	p99Target("SQLite", health, sign)
	if p := r.service("sqlite", 1); p != nil && p.PeakRSSKiB > 0 {
		mib := float64(p.PeakRSSKiB) / 1024
		check(fmt.Sprintf("SQLite: wxavatar peak RSS ≤ %.0f MiB (whole run)", targetPeakRSSMiB), fmtKiB(p.PeakRSSKiB), mib <= targetPeakRSSMiB, true)
	}
	cpuTarget := func(s *scenarioResult, what string, limitMs float64) {
		if s == nil {
			return
		}
		target := fmt.Sprintf("%s: CPU per confirm ≤ %.0f ms (%s)", dbLabel(s.DB), limitMs, what)
		if s.CPUPerRequestUs <= 0 {
			check(target, "not measured in this run", false, false)
			return
		}
		check(target, fmtCPU(s.CPUPerRequestUs), s.CPUPerRequestUs/1000 <= limitMs, true)
	}
	cpuTarget(confirm, "1080² JPEG", targetConfirmCPUMs)
	cpuTarget(confirm12, "12 MP JPEG", targetConfirm12MPCPUMs)
	if confirm12 != nil {
		target := fmt.Sprintf("%s: wxavatar peak RSS ≤ %.0f MiB (12 MP confirm)", dbLabel(confirm12.DB), targetConfirm12MPRSSMiB)
		if confirm12.PeakRSSKiB > 0 {
			check(target, fmtKiB(confirm12.PeakRSSKiB), float64(confirm12.PeakRSSKiB)/1024 <= targetConfirm12MPRSSMiB, true)
		} else {
			check(target, "not measured in this run", false, false)
		}
	}

	// The PostgreSQL sets, against SQLite's figures of the same run.
	vsSQLite := func(label, what string, pg, lite *scenarioResult) {
		if pg == nil {
			return
		}
		target := fmt.Sprintf("%s: wxavatar CPU per %s ≤ %.1f× SQLite's", label, what, targetPGCPUVsSQLite)
		if lite == nil || lite.CPUPerRequestUs <= 0 || pg.CPUPerRequestUs <= 0 {
			check(target, "not measured in this run", false, false)
			return
		}
		ratio := pg.CPUPerRequestUs / lite.CPUPerRequestUs
		check(target, fmt.Sprintf("%.2f× (%s / %s)", ratio, fmtCPU(pg.CPUPerRequestUs), fmtCPU(lite.CPUPerRequestUs)), ratio <= targetPGCPUVsSQLite, true)
	}
	for _, set := range allDBSets {
		if !set.Postgres {
			continue
		}
		label := set.Label
		if set.Instances > 1 {
			label += " (instances summed)"
		}
		vsSQLite(label, "signature", r.scenario(set.Key, "sign"), sign)
		p99Target(set.Label, r.scenario(set.Key, "healthz"), r.scenario(set.Key, "sign"))
		vsSQLite(label, "confirm (1080²)", r.scenario(set.Key, "confirm"), confirm)
	}

	var errs, busy int64
	confirms := false
	for _, s := range r.Scenarios {
		if s.Key == "confirm" || s.Key == "confirm-12mp" {
			confirms = true
			errs += s.Errors + s.WarmupErrors
			busy += s.Busy + s.WarmupBusy
		}
	}
	if confirms {
		check("no confirm errors (busy answers apart), every set", fmt.Sprintf("%s errors, %s busy answers", fmtInt(errs), fmtInt(busy)), errs == 0, true)
	}
	r.TargetsMet = r.Valid
	for _, t := range r.Targets {
		if t.Met != nil && !*t.Met {
			r.TargetsMet = false
		}
	}
}

// tableOrder sorts the rows by scenario, then by database set in run order,
// so that each scenario's figures on SQLite and PostgreSQL stand together.
func (r *report) tableOrder() []scenarioResult {
	rank := func(list []string, k string) int {
		if i := slices.Index(list, k); i >= 0 {
			return i
		}
		return len(list)
	}
	var dbs []string
	for _, s := range allDBSets {
		dbs = append(dbs, s.Key)
	}
	rows := slices.Clone(r.Scenarios)
	slices.SortStableFunc(rows, func(a, b scenarioResult) int {
		if c := rank(allScenarios, a.Key) - rank(allScenarios, b.Key); c != 0 {
			return c
		}
		return rank(dbs, a.DB) - rank(dbs, b.DB)
	})
	return rows
}

func (r *report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "\n### wxavatar benchmark, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	if !r.Valid {
		b.WriteString("> **⚠️ THIS RUN HAD ERRORS OR LEFT LOOPBACK: ITS NUMBERS ARE NOT VALID.** See the errors column and the notes.\n\n")
	}
	fmt.Fprintf(&b, "`%s`\n\n", r.Command)
	fmt.Fprintf(&b, "- machine: %d CPUs (%s), %s MiB RAM, Linux %s; load average %s at start, %s at end\n",
		m.CPUs, m.CPUModel, fmtInt(m.MemTotalMiB), m.Kernel, m.LoadAvgStart, m.LoadAvgEnd)
	fmt.Fprintf(&b, "- %s; commit %s", m.Go, m.Commit)
	if r.Companion != nil {
		fmt.Fprintf(&b, "; node %s, @uppy/companion %s", r.Companion.Node, r.Companion.Version)
	}
	b.WriteString("\n")
	if p := r.Postgres; p != nil && p.Version != "" {
		via := "its Unix socket"
		if r.Options.PostgresTCP {
			via = "loopback TCP"
		}
		fmt.Fprintf(&b, "- %s, a throwaway cluster on this machine (%s), reached over %s; the service's pool holds up to %d connections per instance; PostgreSQL ×2 is two service processes on one database and one object store, the generator's connections spread evenly over them\n",
			p.Version, p.Settings, via, pgPoolPerInstance)
	}
	fmt.Fprintf(&b, "- load: closed loop, %d keep-alive connections, %s warm-up + %s timed per scenario, generator on the same machine; %d users; storage %s (the in-process object server speaking its protocol)\n\n",
		r.Options.Concurrency, r.Options.Warmup, r.Options.Duration, r.Options.Users, r.Options.Storage)

	b.WriteString("| scenario | database | req/s | p50 | p99 | CPU/request | PostgreSQL CPU/request | peak RSS | errors | busy (503) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.tableOrder() {
		errs := fmtInt(s.Errors)
		if s.Errors > 0 || s.WarmupErrors > 0 {
			errs = fmt.Sprintf("**%s** ⚠️", fmtInt(s.Errors))
			if s.WarmupErrors > 0 {
				errs += fmt.Sprintf(" (+%s in warm-up)", fmtInt(s.WarmupErrors))
			}
		}
		busy := "–"
		if s.Key == "confirm" || s.Key == "confirm-12mp" {
			busy = fmtInt(s.Busy)
			if s.WarmupBusy > 0 {
				busy += fmt.Sprintf(" (+%s in warm-up)", fmtInt(s.WarmupBusy))
			}
		}
		db := "–"
		if s.DB != "" {
			db = dbLabel(s.DB)
		}
		rss := fmtKiB(s.PeakRSSKiB)
		if len(s.PeakRSSKiBInstances) > 1 {
			var each []string
			for _, k := range s.PeakRSSKiBInstances {
				each = append(each, strings.TrimSuffix(fmtKiB(k), " MiB"))
			}
			rss = strings.Join(each, " + ") + " MiB"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Name, db, fmtRPS(s.RPS), fmtMs(s.P50Ms), fmtMs(s.P99Ms), fmtCPU(s.CPUPerRequestUs), fmtPGCPU(s.PostgresCPUPerRequestUs), rss, errs, busy)
	}
	b.WriteString("\n")
	if len(r.Services) > 0 {
		b.WriteString("wxavatar RSS")
		for i, p := range r.Services {
			sep := ", "
			if i == 0 {
				sep = ": "
			}
			name := dbLabel(p.DB)
			if inst := r.service(p.DB, 2); inst != nil {
				name += fmt.Sprintf(" instance %d", p.Instance)
			}
			fmt.Fprintf(&b, "%s%s %s at start, %s at the end, **%s peak**", sep, name, fmtKiB(p.StartRSSKiB), fmtKiB(p.EndRSSKiB), fmtKiB(p.PeakRSSKiB))
		}
		b.WriteString(" (log-ins and the confirm pools' uploads included). ")
	}
	if c := r.Companion; c != nil {
		fmt.Fprintf(&b, "Companion RSS: %s at start, %s peak.", fmtKiB(c.StartRSSKiB), fmtKiB(c.PeakRSSKiB))
	}
	b.WriteString("\n\n| target | measured | |\n|---|---|:-:|\n")
	for _, t := range r.Targets {
		mark := "–"
		if t.Met != nil {
			mark = "❌"
			if *t.Met {
				mark = "✅"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Target, t.Measured, mark)
	}
	var notes []string
	for _, s := range r.tableOrder() {
		key := s.Key
		if s.DB != "" {
			key = dbLabel(s.DB) + " " + s.Key
		}
		if s.Note != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", key, s.Note))
		}
		for _, e := range s.ErrorSamples {
			notes = append(notes, fmt.Sprintf("%s error: %s", key, e))
		}
	}
	for _, p := range r.Services {
		notes = append(notes, fmt.Sprintf("wxavatar (%s, instance %d) network: %s", dbLabel(p.DB), p.Instance, p.Network))
	}
	if c := r.Companion; c != nil {
		notes = append(notes, fmt.Sprintf("companion: %s, network: %s", c.Endpoint, c.Network))
	}
	notes = append(notes, r.Notes...)
	for _, p := range r.Profiles {
		notes = append(notes, "profile: "+p)
	}
	b.WriteString("\n")
	for _, n := range notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String()
}

func (r *report) write(jsonPath, mdPath, md string) error {
	if err := os.MkdirAll(filepath.Dir(jsonPath), 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonPath, append(j, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(mdPath, []byte(md), 0o644)
}

// fmtRPS renders a rate with thousands separators.
func fmtRPS(v float64) string { return fmtInt(int64(v + 0.5)) }

func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtMs renders a latency with about three significant digits.
func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func fmtKiB(kib int64) string {
	if kib <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func fmtCPU(us float64) string {
	switch {
	case us <= 0:
		return "–"
	case us >= 10_000:
		return fmtMs(us / 1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

// fmtPGCPU is fmtCPU for a figure that may be missing (no PostgreSQL) or
// measured as zero.
func fmtPGCPU(us *float64) string {
	switch {
	case us == nil:
		return "–"
	case *us < 1:
		return "0 µs"
	}
	return fmtCPU(*us)
}

func machineInfo(root string) machine {
	m := machine{CPUs: runtime.NumCPU(), LoadAvgStart: loadAvg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kib, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemTotalMiB = kib / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Go = cmdOutput(root, "go", "version")
	m.Go = strings.TrimPrefix(m.Go, "go version ")
	if m.Go == "" {
		m.Go = runtime.Version()
	}
	m.Commit = cmdOutput(root, "git", "rev-parse", "--short", "HEAD")
	if m.Commit == "" {
		m.Commit = "unknown"
	} else if cmdOutput(root, "git", "status", "--porcelain", "--untracked-files=no") != "" {
		m.Commit += " + uncommitted changes"
	}
	return m
}

func cmdOutput(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
