package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// errPoolDry is what a scenario's next function returns when it has no more
// work prepared: the timed window stops there and the report says so.
var errPoolDry = errors.New("pool ran dry")

// scenario is one timed load: closed-loop workers each send a request, read
// the whole answer and send the next, until the window ends.
type scenario struct {
	Name    string // table label
	Key     string // short id: healthz, sign, confirm, companion
	Process string // wxavatar | companion
	// next builds the i-th request (i counts from 0 over warm-up and window
	// alike); errPoolDry ends the scenario early.
	next func(i int64) (*http.Request, error)
	// expect is the only status that counts as success.
	expect int
	// check, when set, looks at a successful answer's body; an error makes
	// the request count as failed. full is true for the first answers of a
	// window, where a thorough (slower) check is worth it.
	check func(body []byte, full bool) error
	// busyOK: the documented busy answer (503, error code "busy", a
	// Retry-After) is not an error; it is counted apart, and the worker
	// sends the same request again once Retry-After has passed, as a
	// client would (nothing was recorded, retrying is safe).
	busyOK bool
	// pool is the number of prepared requests next can build (0: no
	// limit). The warm-up uses at most its share of it, in proportion to
	// its length, so that the timed window has the rest.
	pool int64
	// hosts, when set, are the service instances behind the generator:
	// worker w sends every request to hosts[w%len(hosts)], so that the
	// keep-alive connections are spread evenly over them, as a load
	// balancer holding as many connections would.
	hosts []string
}

// stats is one window's outcome.
type stats struct {
	OK        int64
	Errors    int64
	Busy      int64    // documented busy answers, retried; not errors
	Samples   []string // up to maxErrorSamples distinct error descriptions
	Elapsed   time.Duration
	Latencies []time.Duration // successful requests, sorted
	PoolDry   bool
	DryAfter  time.Duration
}

const maxErrorSamples = 5

// errorLog keeps the count and the first few distinct errors, which it
// also prints to stderr as they happen.
type errorLog struct {
	key     string // the scenario's
	mu      sync.Mutex
	n       int64
	samples []string
}

func (e *errorLog) add(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.samples) < maxErrorSamples && !slices.Contains(e.samples, msg) {
		e.samples = append(e.samples, msg)
		logf("%s: error: %s", e.key, msg)
	}
}

// fullChecks is how many answers per window get the thorough check.
const fullChecks = 64

// runWindow drives sc with concurrency workers for d and returns what was
// measured. seq is shared across the warm-up and timed windows so that a
// pool of prepared work is consumed once. A request in flight when the
// window closes is finished and counted; the elapsed time runs to the last
// answer.
func runWindow(ctx context.Context, client *http.Client, sc *scenario, concurrency int, d time.Duration, seq *atomic.Int64) stats {
	var (
		errs     = errorLog{key: sc.Key}
		wg       sync.WaitGroup
		checked  atomic.Int64
		busy     atomic.Int64
		dry      atomic.Bool
		dryAt    atomic.Int64
		perWork  = make([][]time.Duration, concurrency)
		start    = time.Now()
		deadline = start.Add(d)
	)
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			lat := make([]time.Duration, 0, 4096)
			defer func() { perWork[w] = lat }()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := seq.Add(1) - 1
			attempt: // the same request again after a busy answer
				req, err := sc.next(i)
				if errors.Is(err, errPoolDry) {
					if dry.CompareAndSwap(false, true) {
						dryAt.Store(int64(time.Since(start)))
					}
					return
				}
				if err != nil {
					errs.add("building the request: " + err.Error())
					continue
				}
				if len(sc.hosts) > 0 {
					req.URL.Host = sc.hosts[w%len(sc.hosts)]
					req.Host = req.URL.Host
				}
				req = req.WithContext(ctx)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					errs.add(describeTransportError(err))
					continue
				}
				buf.Reset()
				_, err = buf.ReadFrom(resp.Body)
				resp.Body.Close()
				elapsed := time.Since(t0)
				if err == nil && sc.busyOK && resp.StatusCode == http.StatusServiceUnavailable {
					wait, isBusy, problem := busyAnswer(resp.Header, buf.Bytes())
					switch {
					case isBusy && problem == "":
						busy.Add(1)
						if !sleepUntil(ctx, wait, deadline) {
							return
						}
						goto attempt
					case isBusy:
						errs.add("busy answer " + problem + ": " + truncate(buf.Bytes(), 300))
						continue
					}
				}
				switch {
				case err != nil:
					errs.add("reading the answer: " + err.Error())
					continue
				case resp.StatusCode != sc.expect:
					errs.add(fmt.Sprintf("status %d (want %d): %s", resp.StatusCode, sc.expect, truncate(buf.Bytes(), 300)))
					continue
				}
				if sc.check != nil {
					if err := sc.check(buf.Bytes(), checked.Add(1) <= fullChecks); err != nil {
						errs.add("unexpected answer: " + err.Error())
						continue
					}
				}
				lat = append(lat, elapsed)
			}
		}()
	}
	wg.Wait()
	st := stats{Elapsed: time.Since(start), Errors: errs.n, Busy: busy.Load(), Samples: errs.samples, PoolDry: dry.Load()}
	if st.PoolDry {
		st.DryAfter = time.Duration(dryAt.Load())
	}
	n := 0
	for _, l := range perWork {
		n += len(l)
	}
	st.Latencies = make([]time.Duration, 0, n)
	for _, l := range perWork {
		st.Latencies = append(st.Latencies, l...)
	}
	slices.Sort(st.Latencies)
	st.OK = int64(len(st.Latencies))
	return st
}

// busyAnswer reads a 503: isBusy when its error code is "busy"; then wait is
// how long to wait before retrying, from Retry-After (in seconds) plus up to
// a quarter more, so that the workers turned away together do not all come
// back at once. problem says what the answer lacks to be the documented one.
func busyAnswer(h http.Header, body []byte) (wait time.Duration, isBusy bool, problem string) {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Code != "busy" {
		return 0, false, ""
	}
	ra := h.Get("Retry-After")
	if ra == "" {
		return 0, true, "without Retry-After"
	}
	secs, err := strconv.Atoi(strings.TrimSpace(ra))
	if err != nil || secs < 0 {
		return 0, true, fmt.Sprintf("with Retry-After %q, not a number of seconds", ra)
	}
	wait = time.Duration(secs) * time.Second
	if wait == 0 {
		wait = 50 * time.Millisecond
	}
	return wait + time.Duration(rand.Int64N(int64(wait/4)+1)), true, ""
}

// sleepUntil sleeps d, or less if the deadline or the context comes first;
// it reports whether there is time left to send another request.
func sleepUntil(ctx context.Context, d time.Duration, deadline time.Time) bool {
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	t := time.NewTimer(min(d, left))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return time.Now().Before(deadline)
}

func describeTransportError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout: " + err.Error()
	}
	return "transport: " + err.Error()
}

func truncate(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// percentile is the exact nearest-rank percentile of sorted samples: the
// smallest sample with at least p% of the samples at or below it. It is 0
// for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

func mean(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return sum / time.Duration(len(sorted))
}

// rate is successful requests per second over the window.
func (s stats) rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.OK) / s.Elapsed.Seconds()
}

// newClient is a keep-alive client that dials loopback addresses only: the
// benchmark never sends a byte anywhere else, whatever URL an answer holds.
func newClient(concurrency int) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil, // never a proxy from the environment
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := checkLoopback(addr); err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        4 * concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkLoopback refuses any address but a loopback IP literal.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("refusing to dial %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to dial %s: the benchmark talks to loopback addresses only", addr)
	}
	return nil
}

// drain reads and closes a body so that its connection is reused.
func drain(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
