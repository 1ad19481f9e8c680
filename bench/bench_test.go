package main

// These tests keep the harness honest without running a load test: the
// statistics, the /proc parsing, the loopback guard and the report. The load
// run itself is `go run ./bench`.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image/jpeg"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPercentileNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond // 1..100 ms
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"p0 is the min", hundred, 0, 1 * time.Millisecond},
		{"p50 of four rounds up the rank", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of ten is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: percentile(p%.0f) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
	// p99 of 1..1000 is exact: the 990th sample, no interpolation.
	thousand := make([]time.Duration, 1000)
	for i := range thousand {
		thousand[i] = time.Duration(i+1) * time.Microsecond
	}
	if got := percentile(thousand, 99); got != 990*time.Microsecond {
		t.Errorf("p99 of 1..1000 µs = %v, want 990µs", got)
	}
	if got := mean(ms(1, 2, 3, 6)); got != 3*time.Millisecond {
		t.Errorf("mean = %v, want 3ms", got)
	}
}

// A real /proc/<pid>/status, trimmed.
const sampleStatus = `Name:	wxavatar
Umask:	0022
State:	S (sleeping)
Tgid:	4242
Pid:	4242
VmPeak:	 1261752 kB
VmSize:	 1261752 kB
VmLck:	       0 kB
VmPin:	       0 kB
VmHWM:	   23552 kB
VmRSS:	   18944 kB
RssAnon:	    9216 kB
RssFile:	    9728 kB
Threads:	9
`

func TestParseProcStatus(t *testing.T) {
	m, err := parseProcStatus(strings.NewReader(sampleStatus))
	if err != nil {
		t.Fatal(err)
	}
	if m.HWMKiB != 23552 || m.RSSKiB != 18944 {
		t.Fatalf("got %+v, want VmHWM 23552 and VmRSS 18944", m)
	}
	if _, err := parseProcStatus(strings.NewReader("Name:\tkthreadd\nState:\tS\n")); err == nil {
		t.Error("a status without VmHWM (kernel thread) parsed")
	}
	if _, err := parseProcStatus(strings.NewReader("VmHWM:\t12 MB\nVmRSS:\t1 kB\n")); err == nil {
		t.Error("a VmHWM not in kB parsed")
	}
}

func TestPeakTrackerOnThisProcess(t *testing.T) {
	m, err := readMem(os.Getpid())
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if m.HWMKiB < m.RSSKiB || m.RSSKiB <= 0 {
		t.Fatalf("implausible %+v", m)
	}
	p, err := newPeakTracker(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	p.begin()
	if got := p.observe(); got <= 0 || p.overall < got {
		t.Fatalf("peak %d, overall %d", got, p.overall)
	}
}

// Lines of /proc/net/tcp and tcp6 as the kernel prints them.
const sampleProcNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A2C4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 0F02000A:C350 0E0F5C5D:01BB 02 00000001:00000000 01:00000200 00000000     0        0 3333 1 0000000000000000 100 0 0 10 0
`

const sampleProcNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0BB8 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 20 4 30 10 -1
`

func TestParseProcNet(t *testing.T) {
	s := parseProcNet(sampleProcNetTCP)
	if len(s) != 3 {
		t.Fatalf("parsed %d sockets, want 3", len(s))
	}
	if got := s[0].local.String(); got != "127.0.0.1:8080" {
		t.Errorf("listener local = %s", got)
	}
	if !s[0].remote.IP.IsUnspecified() || s[0].inode != 1111 {
		t.Errorf("listener remote/inode = %s/%d", s[0].remote.String(), s[0].inode)
	}
	if got := s[1].remote.String(); got != "127.0.0.1:8080" || !s[1].remote.IP.IsLoopback() {
		t.Errorf("loopback connection remote = %s", got)
	}
	if got := s[2].remote.String(); got != "93.92.15.14:443" || s[2].remote.IP.IsLoopback() {
		t.Errorf("outgoing connection remote = %s, want 93.92.15.14:443 (not loopback)", got)
	}
	if got := s[2].local.String(); got != "10.0.2.15:50000" {
		t.Errorf("outgoing connection local = %s", got)
	}
	s6 := parseProcNet(sampleProcNetTCP6)
	if len(s6) != 2 {
		t.Fatalf("parsed %d tcp6 sockets, want 2", len(s6))
	}
	if got := s6[0].local.String(); got != "[::1]:3000" {
		t.Errorf("tcp6 local = %s, want [::1]:3000", got)
	}
	if !s6[1].remote.IP.IsLoopback() || s6[1].remote.Port != 0xD431 {
		t.Errorf("v4-mapped loopback remote = %s", s6[1].remote.String())
	}
}

func TestNetWatchSeesThisProcessLoopbackOnly(t *testing.T) {
	if _, err := os.Stat("/proc/self/net/tcp"); err != nil {
		t.Skip("no /proc/self/net/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := &netWatch{pid: os.Getpid(), remote: map[string]bool{}}
	msg, clean := w.result()
	if !clean {
		t.Fatalf("loopback-only process reported as leaving loopback: %s", msg)
	}
	if w.maxSock < 2 {
		t.Errorf("saw %d sockets, want at least the listener and the connection", w.maxSock)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:80", "127.1.2.3:9000", "[::1]:443"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:80", "192.168.1.1:80", "8.8.8.8:53", "[2001:db8::1]:443", "localhost:80", "example.com:443", "nonsense"} {
		if err := checkLoopback(bad); err == nil {
			t.Errorf("%s allowed", bad)
		}
	}
	// The client's dialer refuses too. The context is cancelled first so
	// that not even a broken guard could send a packet.
	tr := newClient(1).Transport.(*http.Transport)
	if tr.Proxy != nil {
		t.Error("the client would use a proxy from the environment")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tr.DialContext(ctx, "tcp", "192.0.2.1:9")
	if err == nil || !strings.Contains(err.Error(), "loopback addresses only") {
		t.Errorf("dialing a non-loopback address: %v", err)
	}
}

func TestStdoutLines(t *testing.T) {
	cases := []struct {
		re   *regexp.Regexp
		line string
		want []string
	}{
		{apiLineRE, "wxavatar: API on http://127.0.0.1:40123", []string{"http://127.0.0.1:40123"}},
		{objectsLineRE, "wxavatar: local object server on http://127.0.0.1:39999 (cos, bucket wxavatar-1250000000)", []string{"http://127.0.0.1:39999", "wxavatar-1250000000"}},
		{objectsLineRE, "wxavatar: local object server on http://127.0.0.1:39999 (s3, bucket wxavatar-dev)", []string{"http://127.0.0.1:39999", "wxavatar-dev"}},
		{companionLineRE, "companion-bench: listening on http://127.0.0.1:3020 (@uppy/companion 6.2.2, node v20.20.2)", []string{"http://127.0.0.1:3020", "6.2.2", "v20.20.2"}},
		{pprofLineRE, "wxavatar: pprof on http://127.0.0.1:6060/debug/pprof/", []string{"http://127.0.0.1:6060"}},
	}
	for _, c := range cases {
		m := c.re.FindStringSubmatch(c.line)
		if m == nil || !slices.Equal(m[1:], c.want) {
			t.Errorf("%q against %s: got %q, want %q", c.line, c.re, m, c.want)
		}
	}
	if apiLineRE.MatchString("wxavatar: API on http://0.0.0.0:8080") {
		t.Error("a non-loopback API address was accepted")
	}
}

func TestCheckCompanionParams(t *testing.T) {
	good := []byte(`{"method":"POST","url":"https://b.s3.ap-guangzhou.amazonaws.com/","fields":{"key":"k-avatar.png","Policy":"eyJ9","X-Amz-Signature":"abc","content-type":"image/png"},"expires":800}`)
	for _, full := range []bool{true, false} {
		if err := checkCompanionParams(good, full); err != nil {
			t.Errorf("full=%v: %v", full, err)
		}
	}
	if err := checkCompanionParams([]byte(`{"method":"POST","url":"https://b/","fields":{}}`), true); err == nil {
		t.Error("an answer without a policy passed the full check")
	}
	if err := checkCompanionParams([]byte(`{"error":"x"}`), false); err == nil {
		t.Error("an error answer passed the quick check")
	}
}

// runWindow against a tiny local server: counts, errors, percentiles and
// the pool running dry.
func TestRunWindow(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	client := newClient(4)
	defer client.CloseIdleConnections()
	sc := healthzScenario(srv.URL)
	var seq atomic.Int64
	st := runWindow(context.Background(), client, sc, 4, 100*time.Millisecond, &seq)
	if st.OK == 0 || st.Errors == 0 {
		t.Fatalf("ok %d, errors %d: want both", st.OK, st.Errors)
	}
	if total := st.OK + st.Errors; total != n.Load() {
		t.Errorf("counted %d requests, the server saw %d", total, n.Load())
	}
	if len(st.Samples) != 1 || !strings.Contains(st.Samples[0], "status 500") {
		t.Errorf("error samples %q", st.Samples)
	}
	if !slices.IsSorted(st.Latencies) || int64(len(st.Latencies)) != st.OK {
		t.Error("latencies not sorted or not one per success")
	}

	// A pool of 25: the window stops when it is used up.
	pool := &scenario{Key: "pool", expect: http.StatusOK,
		next: func(i int64) (*http.Request, error) {
			if i >= 25 {
				return nil, errPoolDry
			}
			return http.NewRequest(http.MethodGet, srv.URL+fmt.Sprintf("/?i=%d", i), nil)
		}}
	seq.Store(0)
	st = runWindow(context.Background(), client, pool, 4, 10*time.Second, &seq)
	if !st.PoolDry || st.OK+st.Errors != 25 || st.Elapsed > 5*time.Second {
		t.Errorf("pool: dry %v, %d ok + %d errors in %s; want dry, 25, promptly", st.PoolDry, st.OK, st.Errors, st.Elapsed)
	}
}

// With two instances, the workers' connections are spread evenly: each
// worker keeps to one instance, and both get half the workers.
func TestRunWindowSpreadsOverHosts(t *testing.T) {
	type seen struct {
		n     atomic.Int64
		mu    sync.Mutex
		conns map[string]bool
	}
	var a, b seen
	handler := func(s *seen) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s.n.Add(1)
			s.mu.Lock()
			if s.conns == nil {
				s.conns = map[string]bool{}
			}
			s.conns[r.RemoteAddr] = true
			s.mu.Unlock()
			w.Write([]byte(`{"status":"ok"}`))
		}
	}
	srvA, srvB := httptest.NewServer(handler(&a)), httptest.NewServer(handler(&b))
	defer srvA.Close()
	defer srvB.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	sc := healthzScenario(srvA.URL)
	sc.hosts = []string{host(srvA), host(srvB)}
	client := newClient(4)
	defer client.CloseIdleConnections()
	var seq atomic.Int64
	st := runWindow(context.Background(), client, sc, 4, 200*time.Millisecond, &seq)
	if st.Errors != 0 || a.n.Load() == 0 || b.n.Load() == 0 || st.OK != a.n.Load()+b.n.Load() {
		t.Fatalf("%d ok, %d errors; instance A %d, B %d", st.OK, st.Errors, a.n.Load(), b.n.Load())
	}
	if len(a.conns) != 2 || len(b.conns) != 2 {
		t.Errorf("connections: A %d, B %d; want 2 each (4 workers, keep-alive)", len(a.conns), len(b.conns))
	}
}

func TestReportTargets(t *testing.T) {
	r := &report{Valid: true, Services: []processInfo{{DB: "sqlite", Instance: 1, PeakRSSKiB: 20 * 1024}}}
	r.Scenarios = []scenarioResult{
		{DB: "sqlite", Key: "healthz", Requests: 1, RPS: 20000, P99Ms: 4},
		{DB: "sqlite", Key: "sign", Requests: 1, RPS: 9000, P99Ms: 10},
		{DB: "sqlite", Key: "confirm", Requests: 1, RPS: 30, CPUPerRequestUs: 55_000, Busy: 40},
		{DB: "sqlite", Key: "confirm-12mp", Requests: 1, RPS: 4, CPUPerRequestUs: 390_000, PeakRSSKiB: 150 * 1024, WarmupBusy: 7},
		{Key: "companion", Requests: 1, RPS: 400},
	}
	r.evaluate()
	if !r.Valid || !r.TargetsMet || len(r.Targets) != 8 {
		t.Fatalf("valid %v, met %v, %d targets: %+v", r.Valid, r.TargetsMet, len(r.Targets), r.Targets)
	}
	// 45% of healthz, 22.5× companion, p99 2.5×, 20 MiB, 55 and 390 ms per
	// confirm, 150 MiB, busy answers only: all met.
	md := r.markdown()
	if strings.Contains(md, "❌") || strings.Count(md, "✅") != 8 || strings.Contains(md, "NOT VALID") {
		t.Errorf("markdown:\n%s", md)
	}
	for _, want := range []string{"| 55.0 ms |", "| 390 ms |", "| 40 |", "| 0 (+7 in warm-up) |", "0 errors, 47 busy answers"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	r = &report{Valid: true, Services: []processInfo{{DB: "sqlite", Instance: 1, PeakRSSKiB: 40 * 1024}}}
	r.Scenarios = []scenarioResult{
		{DB: "sqlite", Key: "healthz", Requests: 1, RPS: 20000, P99Ms: 4},
		{DB: "sqlite", Key: "sign", Requests: 1, RPS: 5000, P99Ms: 20, Errors: 3},
		{DB: "sqlite", Key: "confirm", Requests: 1, RPS: 10, CPUPerRequestUs: 80_000, Errors: 2, Busy: 5},
		{DB: "sqlite", Key: "confirm-12mp", Requests: 1, RPS: 1, CPUPerRequestUs: 900_000, PeakRSSKiB: 300 * 1024},
	}
	r.evaluate()
	if r.Valid || r.TargetsMet {
		t.Fatal("a run with errors and missed targets passed")
	}
	md = r.markdown()
	for _, want := range []string{"NOT VALID", "**3** ⚠️", "25% (5,000 / 20,000)", "5.0× (20.0 ms / 4.00 ms)", "40.0 MiB", "not measured",
		"CPU per confirm ≤ 60 ms (1080² JPEG) | 80.0 ms | ❌", "CPU per confirm ≤ 400 ms (12 MP JPEG) | 900 ms | ❌",
		"(12 MP confirm) | 300.0 MiB | ❌", "2 errors, 5 busy answers | ❌"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestParseDBSets(t *testing.T) {
	sets, err := parseDBSets(" postgres-2,sqlite ,,postgres")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range sets {
		keys = append(keys, s.Key)
	}
	if !slices.Equal(keys, []string{"sqlite", "postgres", "postgres-2"}) || sets[2].Instances != 2 || !sets[1].Postgres || sets[0].Postgres {
		t.Errorf("sets %+v; want sqlite, postgres, postgres-2 in run order", sets)
	}
	for _, bad := range []string{"", " , ", "mysql", "sqlite,postgres-3"} {
		if _, err := parseDBSets(bad); err == nil {
			t.Errorf("parseDBSets(%q): no error", bad)
		}
	}
	if profileKey("sqlite", "sign") != "sign" || profileKey("postgres-2", "confirm") != "postgres-2-confirm" {
		t.Error("profile keys")
	}
}

// Without PostgreSQL's binaries the default run skips its sets with a note;
// asked for by -db, they are an error.
func TestPostgresSetsMissing(t *testing.T) {
	all, _ := parseDBSets("sqlite,postgres,postgres-2")
	missing := func() (string, error) { return "", errors.New("no PostgreSQL server binaries") }
	found := func() (string, error) { return "/pg/bin", nil }
	rep := &report{}
	sets, err := postgresSets(options{dbs: all}, rep, missing)
	if err != nil || len(sets) != 1 || sets[0].Key != "sqlite" || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "SKIPPED") {
		t.Errorf("default run: %v, %v, notes %q", sets, err, rep.Notes)
	}
	if _, err := postgresSets(options{dbs: all, dbExplicit: true}, &report{}, missing); err == nil {
		t.Error("-db with PostgreSQL missing: no error")
	}
	if _, err := postgresSets(options{dbs: all[1:]}, &report{}, missing); err == nil {
		t.Error("only PostgreSQL sets, PostgreSQL missing: no error")
	}
	rep = &report{}
	if sets, err := postgresSets(options{dbs: all}, rep, found); err != nil || len(sets) != 3 || rep.Postgres == nil || rep.Postgres.Bin != "/pg/bin" {
		t.Errorf("found: %v, %v, %+v", sets, err, rep.Postgres)
	}
}

// SQLite and both PostgreSQL sets in one report: rows grouped by scenario,
// the PostgreSQL CPU column, each instance's peak, and the PostgreSQL
// targets computed against SQLite's figures and the set's own /healthz.
func TestReportPostgres(t *testing.T) {
	r := &report{Valid: true, Postgres: &postgresInfo{Version: "PostgreSQL 15.18", Settings: "fsync on, synchronous_commit on"}}
	for _, db := range []string{"sqlite", "postgres", "postgres-2"} {
		r.Services = append(r.Services, processInfo{DB: db, Instance: 1, PeakRSSKiB: 25 * 1024})
	}
	r.Services = append(r.Services, processInfo{DB: "postgres-2", Instance: 2, PeakRSSKiB: 24 * 1024})
	r.Scenarios = []scenarioResult{
		{Name: "`GET /healthz` (ceiling)", DB: "sqlite", Key: "healthz", Requests: 1, RPS: 20000, P99Ms: 4, CPUPerRequestUs: 40},
		{Name: "signature", DB: "sqlite", Key: "sign", Requests: 1, RPS: 8000, P99Ms: 10, CPUPerRequestUs: 150},
		{Name: "confirm", DB: "sqlite", Key: "confirm", Requests: 1, RPS: 40, CPUPerRequestUs: 45_000},
		{Name: "12 MP", DB: "sqlite", Key: "confirm-12mp", Requests: 1, RPS: 10, CPUPerRequestUs: 190_000, PeakRSSKiB: 150 * 1024},
		{Name: "`GET /healthz` (ceiling)", DB: "postgres", Key: "healthz", Requests: 1, RPS: 19000, P99Ms: 5, CPUPerRequestUs: 41, PostgresCPUPerRequestUs: ptr(0.4)},
		{Name: "signature", DB: "postgres", Key: "sign", Requests: 1, RPS: 2000, P99Ms: 40, CPUPerRequestUs: 360, PostgresCPUPerRequestUs: ptr(420)},
		{Name: "confirm", DB: "postgres", Key: "confirm", Requests: 1, RPS: 38, CPUPerRequestUs: 46_000, PostgresCPUPerRequestUs: ptr(900)},
		{Name: "`GET /healthz` (ceiling)", DB: "postgres-2", Instances: 2, Key: "healthz", Requests: 1, RPS: 18000, P99Ms: 6, CPUPerRequestUs: 45},
		{Name: "signature", DB: "postgres-2", Instances: 2, Key: "sign", Requests: 1, RPS: 2100, P99Ms: 15, CPUPerRequestUs: 200, PostgresCPUPerRequestUs: ptr(400),
			PeakRSSKiB: 31 * 1024, PeakRSSKiBInstances: []int64{30 * 1024, 31 * 1024}},
		{Name: "confirm", DB: "postgres-2", Instances: 2, Key: "confirm", Requests: 1, RPS: 39, CPUPerRequestUs: 48_000, PostgresCPUPerRequestUs: ptr(950)},
	}
	r.evaluate()
	md := r.markdown()
	for _, want := range []string{
		"PostgreSQL: wxavatar CPU per signature ≤ 1.5× SQLite's | 2.40× (360 µs / 150 µs) | ❌",
		"PostgreSQL: signature p99 ≤ 3× `/healthz` p99 | 8.0× (40.0 ms / 5.00 ms) | ❌",
		"PostgreSQL: wxavatar CPU per confirm (1080²) ≤ 1.5× SQLite's | 1.02× (46.0 ms / 45.0 ms) | ✅",
		"PostgreSQL ×2 (instances summed): wxavatar CPU per signature ≤ 1.5× SQLite's | 1.33× (200 µs / 150 µs) | ✅",
		"PostgreSQL ×2: signature p99 ≤ 3× `/healthz` p99 | 2.5× (15.0 ms / 6.00 ms) | ✅",
		"SQLite: signatures ≥ 40% of `/healthz` req/s | 40% (8,000 / 20,000) | ✅",
		"SQLite: CPU per confirm ≤ 400 ms (12 MP JPEG) | 190 ms | ✅",
		"| signature | PostgreSQL | 2,000 | – | 40.0 ms | 360 µs | 420 µs |",
		"| signature | PostgreSQL ×2 | 2,100 | – | 15.0 ms | 200 µs | 400 µs | 30.0 + 31.0 MiB |",
		"| signature | SQLite | 8,000 | – | 10.0 ms | 150 µs | – | – |",
		"| `GET /healthz` (ceiling) | PostgreSQL | 19,000 | – | 5.00 ms | 41 µs | 0 µs |",
		"PostgreSQL 15.18, a throwaway cluster on this machine (fsync on, synchronous_commit on), reached over its Unix socket",
		"PostgreSQL ×2 instance 2 – at start",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if r.TargetsMet || !r.Valid {
		t.Errorf("met %v, valid %v; want a valid run with missed targets", r.TargetsMet, r.Valid)
	}
	// Each scenario's rows stand together, sets in run order.
	var order []string
	for _, s := range r.tableOrder() {
		order = append(order, s.Key+"/"+s.DB)
	}
	want := []string{"healthz/sqlite", "healthz/postgres", "healthz/postgres-2", "sign/sqlite", "sign/postgres", "sign/postgres-2",
		"confirm/sqlite", "confirm/postgres", "confirm/postgres-2", "confirm-12mp/sqlite"}
	if !slices.Equal(order, want) {
		t.Errorf("table order %v; want %v", order, want)
	}
}

func ptr(v float64) *float64 { return &v }

// A window's CPU per request, the service's and the database server's,
// from the meters read around it.
func TestMeasureScenarioMeters(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	var svcReads, pgReads atomic.Int64
	meters := cpuMeters{
		service:  func() (time.Duration, error) { return time.Duration(svcReads.Add(1)) * time.Second, nil },
		postgres: func() (time.Duration, error) { return time.Duration(pgReads.Add(1)) * 2 * time.Second, nil },
	}
	o := options{duration: 100 * time.Millisecond, concurrency: 2}
	res := measureScenario(context.Background(), newClient(2), healthzScenario(srv.URL), o, meters, nil)
	n := float64(res.Requests)
	if n == 0 || res.CPUPerRequestUs != 1e6/n || res.PostgresCPUPerRequestUs == nil || *res.PostgresCPUPerRequestUs != 2e6/n {
		t.Errorf("%v requests: CPU/request %v µs, PostgreSQL %v µs; want 1 s and 2 s over them", n, res.CPUPerRequestUs, fmtPGCPU(res.PostgresCPUPerRequestUs))
	}
	meters.postgres = nil
	if res := measureScenario(context.Background(), newClient(2), healthzScenario(srv.URL), o, meters, nil); res.PostgresCPUPerRequestUs != nil {
		t.Errorf("no database server, yet %v", fmtPGCPU(res.PostgresCPUPerRequestUs))
	}
}

// A confirm scenario against a server that turns requests away as busy
// first: busy answers are counted apart and the same request is sent again
// after Retry-After; a 503 that is not the documented busy answer, and any
// other status, is an error.
func TestRunWindowBusy(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		mu.Lock()
		seen[id]++
		n := seen[id]
		mu.Unlock()
		switch {
		case id == "7":
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"code":"storage_unavailable","message":"x"}}`, http.StatusServiceUnavailable)
		case id == "8":
			http.Error(w, `{"error":{"code":"busy","message":"no Retry-After"}}`, http.StatusServiceUnavailable)
		case id == "9":
			http.Error(w, `{"error":{"code":"upload_rejected","message":"not an image","reason":"not_an_image"}}`, http.StatusUnprocessableEntity)
		case n <= 2: // twice busy, then confirmed
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"code":"busy","message":"busy"}}`, http.StatusServiceUnavailable)
		default:
			w.Write([]byte(`{"status":"confirmed"}`))
		}
	}))
	defer srv.Close()
	client := newClient(4)
	defer client.CloseIdleConnections()
	sc := &scenario{Key: "confirm", expect: http.StatusOK, busyOK: true, pool: 20,
		next: func(i int64) (*http.Request, error) {
			if i >= 20 {
				return nil, errPoolDry
			}
			return http.NewRequest(http.MethodPost, fmt.Sprintf("%s/?id=%d", srv.URL, i), nil)
		}}
	var seq atomic.Int64
	st := runWindow(context.Background(), client, sc, 4, 10*time.Second, &seq)
	if !st.PoolDry || st.OK != 17 || st.Errors != 3 || st.Busy != 34 {
		t.Errorf("dry %v, %d ok, %d errors, %d busy; want dry, 17, 3, 34", st.PoolDry, st.OK, st.Errors, st.Busy)
	}
	for _, want := range []string{"storage_unavailable", "busy answer without Retry-After", "not_an_image"} {
		if !slices.ContainsFunc(st.Samples, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no error sample with %q in %q", want, st.Samples)
		}
	}
	if seen["3"] != 3 {
		t.Errorf("upload 3 sent %d times, want 3 (twice busy, then confirmed)", seen["3"])
	}

	// Without busyOK, the busy answer is an error like any other.
	sc.busyOK = false
	seq.Store(0)
	clear(seen)
	st = runWindow(context.Background(), client, sc, 4, 10*time.Second, &seq)
	if st.Busy != 0 || st.Errors != 20 {
		t.Errorf("without busyOK: %d busy, %d errors; want 0, 20", st.Busy, st.Errors)
	}
}

func TestBusyAnswer(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "2")
	wait, busy, problem := busyAnswer(h, []byte(`{"error":{"code":"busy","message":"m"},"request_id":"r"}`))
	if !busy || problem != "" || wait < 2*time.Second || wait > 2500*time.Millisecond {
		t.Errorf("busy %v, problem %q, wait %v; want busy, none, 2–2.5 s", busy, problem, wait)
	}
	if _, busy, _ := busyAnswer(h, []byte(`{"error":{"code":"timeout"}}`)); busy {
		t.Error("a timeout read as busy")
	}
	h.Set("Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT")
	if _, busy, problem := busyAnswer(h, []byte(`{"error":{"code":"busy"}}`)); !busy || problem == "" {
		t.Errorf("a date Retry-After: busy %v, problem %q; want a problem", busy, problem)
	}
}

// The warm-up takes its share of a pool and the window the rest, none
// skipped, even with more workers than the share.
func TestWarmupShare(t *testing.T) {
	if got := warmupShare(120, 2*time.Second, 10*time.Second); got != 20 {
		t.Errorf("share of 120 over 2 s + 10 s = %d, want 20", got)
	}
	if got := warmupShare(2, 2*time.Second, 1*time.Second); got != 1 {
		t.Errorf("share of 2 = %d, want 1 (the window keeps one)", got)
	}
	var mu sync.Mutex
	var got []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		mu.Lock()
		got = append(got, i)
		mu.Unlock()
		w.Write([]byte(`{"status":"confirmed"}`))
	}))
	defer srv.Close()
	const n = 30
	sc := &scenario{Key: "confirm", Process: "wxavatar", expect: http.StatusOK, busyOK: true, pool: n,
		next: func(i int64) (*http.Request, error) {
			if i >= n {
				return nil, errPoolDry
			}
			return http.NewRequest(http.MethodPost, fmt.Sprintf("%s/?i=%d", srv.URL, i), nil)
		}}
	o := options{warmup: 1 * time.Second, duration: 2 * time.Second, concurrency: 8}
	res := measureScenario(context.Background(), newClient(8), sc, o, cpuMeters{service: processCPU(os.Getpid())}, nil)
	if res.Requests != n-10 || res.Errors != 0 || !strings.Contains(res.Note, "share of the pool (10)") {
		t.Errorf("window: %d requests, %d errors, note %q; want 20, 0, the share noted", res.Requests, res.Errors, res.Note)
	}
	slices.Sort(got)
	for i, v := range got {
		if v != i {
			t.Fatalf("uploads sent: %v; want each of 0..%d once", got, n-1)
		}
	}
	if len(got) != n {
		t.Errorf("%d uploads sent, want %d", len(got), n)
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := fmtInt(in); got != want {
			t.Errorf("fmtInt(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0.4234: "0.42 ms", 12.34: "12.3 ms", 250.4: "250 ms", 0: "–"} {
		if got := fmtMs(in); got != want {
			t.Errorf("fmtMs(%v) = %q, want %q", in, got, want)
		}
	}
	if got := fmtKiB(30 * 1024); got != "30.0 MiB" {
		t.Errorf("fmtKiB = %q", got)
	}
	j, m := outputPaths("/r", "")
	if j != filepath.Join("/r", "bench", "results", "latest.json") || m != filepath.Join("/r", "bench", "results", "latest.md") {
		t.Errorf("default outputs %s, %s", j, m)
	}
	if j, m := outputPaths("/r", "x/run.md"); j != "x/run.json" || m != "x/run.md" {
		t.Errorf("-out x/run.md: %s, %s", j, m)
	}
}

func TestAvatarPNG(t *testing.T) {
	if len(avatarPNG) < 8 || string(avatarPNG[1:4]) != "PNG" {
		t.Fatalf("not a PNG: % x", avatarPNG[:8])
	}
}

func TestParseMemStats(t *testing.T) {
	text := "heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1\n\n# runtime.MemStats\n# Alloc = 7033496\n# TotalAlloc = 1205386104\n# Sys = 40191240\n# HeapSys = 31064064\n# HeapInuse = 9330688\n# HeapReleased = 18423808\n# Stack = 1245184 / 1245184\n# NumGC = 312\n# PauseNs = [1 2 3]\n# DebugGC = false\n"
	m := parseMemStats(text)
	if m["Sys"] != 40191240 || m["HeapSys"] != 31064064 || m["NumGC"] != 312 || m["Stack"] != 1245184 {
		t.Fatalf("parsed %v", m)
	}
	if _, ok := m["PauseNs"]; ok {
		t.Error("PauseNs (a list) parsed as a number")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/heap" || r.URL.Query().Get("debug") != "1" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(text))
	}))
	defer srv.Close()
	got := goMemory(context.Background(), srv.URL)
	if !strings.Contains(got, "Sys 38.3 MiB") || !strings.Contains(got, "NumGC 312") {
		t.Errorf("goMemory = %q", got)
	}
}

func TestGrepFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "companion.log")
	log := "companion-bench: listening on http://127.0.0.1:1 (@uppy/companion 6.2.2, node v20.20.2)\n" +
		"netguard: refused tcp connection to example.com:443\n" +
		strings.Repeat("127.0.0.1 - - \"GET /s3/params?filename=a.png HTTP/1.1\" 200 974\n", 30000) +
		"netguard: refused dns lookup to example.com\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := grepFile(path, "netguard: refused")
	if len(got) != 2 || !strings.Contains(got[0], "tcp connection") || !strings.Contains(got[1], "dns lookup") {
		t.Errorf("got %q", got)
	}
}

func TestParseProcStat(t *testing.T) {
	// utime 250 and stime 50 ticks; the command name holds ") (" to make
	// sure fields are counted from the last ')'.
	stat := "4242 (wx) (avatar) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 9 0 123 456 789"
	got, err := parseProcStat(stat)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseProcStat = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "4242 (wx", "4242 (wx) S 1 2", "4242 (wx) S 1 4242 4242 0 -1 0 0 0 0 0 x 50"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
	if _, err := readCPU(os.Getpid()); err != nil {
		if _, statErr := os.Stat("/proc/self/stat"); statErr != nil {
			t.Skip("no /proc:", statErr)
		}
		t.Errorf("readCPU(self): %v", err)
	}
}

// A PostgreSQL cluster's CPU is its postmaster's and every descendant's,
// the children it has reaped included (their time is in its cutime and
// cstime); processes outside the tree are not counted.
func TestTreeCPU(t *testing.T) {
	stat := "100 (postgres) S 1 100 100 0 -1 4194560 1200 0 0 0 250 50 30 20 20 0 1 0 123 456 789"
	got, err := parseStatTimes(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got.ppid != 1 || got.self != 3*time.Second || got.reaped != 500*time.Millisecond {
		t.Fatalf("parseStatTimes = %+v; want ppid 1, self 3s, reaped 0.5s", got)
	}
	if _, err := parseStatTimes("100 (postgres) S x 100 100 0 -1 0 0 0 0 0 1 1 1 1"); err == nil {
		t.Error("a non-numeric ppid parsed")
	}
	s := time.Second
	procs := map[int]statTimes{
		100: {ppid: 1, self: 1 * s, reaped: 2 * s}, // the postmaster
		101: {ppid: 100, self: 10 * s},             // a backend
		102: {ppid: 100, self: 20 * s},             // another
		103: {ppid: 102, self: 100 * s},            // a grandchild
		200: {ppid: 1, self: 1000 * s},             // another process
		201: {ppid: 200, self: 1000 * s},           // and its child
	}
	if got := treeCPU(100, procs[100], procs); got != 133*s {
		t.Errorf("treeCPU = %v; want 133s", got)
	}
	if got := treeCPU(101, procs[101], procs); got != 10*s {
		t.Errorf("treeCPU of a leaf = %v; want 10s", got)
	}
	// This test process and a child of its own: the tree holds both.
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	defer cmd.Process.Kill()
	self, err := readCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tree, err := readTreeCPU(os.Getpid())
	if err != nil || tree < self {
		t.Errorf("readTreeCPU(self) = %v, %v; want ≥ readCPU's %v", tree, err, self)
	}
}

func TestHighestPostgres(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "16", "17"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		names := []string{"initdb", "postgres"}
		if v == "17" {
			names = names[:1] // a client-only install: no server
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(bin, n), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, want := highestPostgres(filepath.Join(root, "*", "bin")), filepath.Join(root, "16", "bin"); got != want {
		t.Errorf("highestPostgres = %q; want %q", got, want)
	}
	if got := highestPostgres(filepath.Join(root, "none", "*")); got != "" {
		t.Errorf("no match: %q", got)
	}
}

// The throwaway cluster starts with fsync on, serves the service's role on
// a fresh database, and its CPU is counted. A few seconds: skipped with
// -short and where the server binaries are missing.
func TestPostgresCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	bin, err := findPostgres()
	if err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	// Not t.TempDir(): its parent is closed to the postgres user.
	tmp, err := os.MkdirTemp("", "wxavatar-bench-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	c, err := startPostgres(ctx, bin, filepath.Join(tmp, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	if !strings.Contains(c.Settings, "fsync on") || !strings.Contains(c.Settings, "synchronous_commit on") || !strings.HasPrefix(c.Version, "PostgreSQL ") {
		t.Errorf("version %q, settings %q", c.Version, c.Settings)
	}
	// It listens on 127.0.0.1 only (and its socket in the temporary folder).
	inodes, err := socketInodes(c.proc.pid())
	if err != nil {
		t.Fatal(err)
	}
	listeners := 0
	for _, f := range []string{"tcp", "tcp6"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", c.proc.pid(), f))
		for _, s := range parseProcNet(string(b)) {
			if inodes[s.inode] {
				listeners++
				if s.local.String() != fmt.Sprintf("127.0.0.1:%d", c.port) {
					t.Errorf("postgres listens on %s %s", f, s.local.String())
				}
			}
		}
	}
	if listeners != 1 {
		t.Errorf("%d TCP listeners, want 1", listeners)
	}
	url, err := c.createDatabase(ctx, "bench_test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "postgres://wxavatar:") || !strings.Contains(url, "?host="+c.sock+"&") {
		t.Errorf("url %q; want the Unix socket in %s", url, c.sock)
	}
	c.tcp = true
	if tcpURL, err := c.createDatabase(ctx, "bench_test_tcp"); err != nil || !strings.Contains(tcpURL, "@127.0.0.1:") {
		t.Errorf("with tcp: url %q, %v; want loopback", tcpURL, err)
	}
	c.tcp = false
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var user string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != pgRole {
		t.Errorf("current_user %q, %v", user, err)
	}
	conn.Close(ctx)
	if cpu, err := c.cpu(); err != nil || cpu <= 0 {
		t.Errorf("cluster CPU %v, %v", cpu, err)
	}
	if err := c.dropDatabase(ctx, "bench_test"); err != nil {
		t.Error(err)
	}
	if err := c.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// The photos are generated, so their realism is checked here: full
// decoding, sizes in range, the same bytes every time and the 12 MP photo's
// EXIF segment, read the way a decoder finds it.
func TestPhotos(t *testing.T) {
	if testing.Short() {
		t.Skip("renders and encodes 13 megapixels")
	}
	dir := t.TempDir()
	for _, p := range []photoSpec{photo1080, photo12MP} {
		b, err := loadPhoto(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", p.Key, p.describe(len(b)))
		if len(b) < p.MinBytes || len(b) > p.MaxBytes {
			t.Errorf("%s: %d bytes, want %d–%d", p.Key, len(b), p.MinBytes, p.MaxBytes)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", p.Key, err)
		}
		if got := img.Bounds().Size(); got.X != p.W || got.Y != p.H {
			t.Errorf("%s: decoded %v, want %d×%d", p.Key, got, p.W, p.H)
		}
		again, err := loadPhoto(dir, p) // from the cache file
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("%s: the cached photo differs (%v)", p.Key, err)
		}
		orientation, app1 := exifOrientationOf(t, b)
		if orientation != p.Orientation {
			t.Errorf("%s: EXIF Orientation %d, want %d", p.Key, orientation, p.Orientation)
		}
		if p.Orientation != 0 && app1 != 2 {
			t.Errorf("%s: APP1 at offset %d, want 2 (right after SOI)", p.Key, app1)
		}
	}
	if w, h := photo12MP.displaySize(); w != 3024 || h != 4032 {
		t.Errorf("the phone photo displays as %d×%d, want 3024×4032", w, h)
	}
	a, _ := makePhoto(photo1080)
	b, _ := loadPhoto(dir, photo1080)
	if !bytes.Equal(a, b) {
		t.Error("the 1080² photo is not deterministic")
	}
}

func TestEXIFSegmentBytes(t *testing.T) {
	want := []byte{
		0xFF, 0xE1, 0x00, 0x22, // APP1, length 34
		'E', 'x', 'i', 'f', 0, 0,
		'I', 'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, // little-endian TIFF, IFD0 at 8
		0x01, 0x00, // one entry
		0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, // Orientation, SHORT, 1, 6
		0x00, 0x00, 0x00, 0x00, // no next IFD
	}
	if got := exifOrientation(6); !bytes.Equal(got, want) {
		t.Errorf("APP1 segment\n got % x\nwant % x", got, want)
	}
	if _, err := insertEXIF([]byte("GIF89a"), 6); err == nil {
		t.Error("EXIF inserted into a non-JPEG")
	}
}

// exifOrientationOf walks the JPEG's marker segments up to SOS and returns
// the Orientation of its Exif APP1 (0 without one) and the APP1's offset.
func exifOrientationOf(t *testing.T, b []byte) (orientation, offset int) {
	t.Helper()
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		t.Fatal("no SOI")
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			t.Fatalf("no marker at %d", i)
		}
		marker, n := b[i+1], int(binary.BigEndian.Uint16(b[i+2:]))
		if marker == 0xDA { // SOS: the entropy-coded data follows
			return 0, -1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			tiff := seg[6:]
			if string(tiff[:4]) != "II*\x00" {
				t.Fatalf("TIFF header % x, want little-endian", tiff[:4])
			}
			ifd := int(binary.LittleEndian.Uint32(tiff[4:]))
			count := int(binary.LittleEndian.Uint16(tiff[ifd:]))
			for e := range count {
				entry := tiff[ifd+2+12*e:]
				tag, typ, cnt := binary.LittleEndian.Uint16(entry), binary.LittleEndian.Uint16(entry[2:]), binary.LittleEndian.Uint32(entry[4:])
				if tag == 0x0112 {
					if typ != 3 || cnt != 1 {
						t.Fatalf("Orientation of type %d, count %d; want SHORT, 1", typ, cnt)
					}
					return int(binary.LittleEndian.Uint16(entry[8:])), i
				}
			}
			t.Fatal("Exif without Orientation")
		}
		i += 2 + n
	}
	t.Fatal("no SOS")
	return 0, 0
}
