package localcos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// FaultConfig makes the local object server behave like a sick object store. Each
// request first waits Latency, then is dropped (connection closed without an
// answer) with probability DropRate, or answered 503 with probability
// ErrorRate; the rest are served normally.
type FaultConfig struct {
	Latency   time.Duration
	ErrorRate float64
	DropRate  float64
}

// ParseFaults reads "latency=500ms,error=0.2,drop=0.1" (any subset; empty
// means no faults).
func ParseFaults(s string) (FaultConfig, error) {
	var f FaultConfig
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		name, value, _ := strings.Cut(part, "=")
		var err error
		switch name {
		case "latency":
			f.Latency, err = time.ParseDuration(value)
			if err == nil && (f.Latency < 0 || f.Latency > time.Minute) {
				err = errors.New("out of range")
			}
		case "error":
			f.ErrorRate, err = parseRate(value)
		case "drop":
			f.DropRate, err = parseRate(value)
		default:
			return FaultConfig{}, fmt.Errorf("unknown fault %q (want latency=, error=, drop=)", name)
		}
		if err != nil {
			return FaultConfig{}, fmt.Errorf("fault %s=%q: %v", name, value, err)
		}
	}
	return f, nil
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r < 0 || r > 1 {
		return 0, errors.New("want a rate from 0 to 1")
	}
	return r, nil
}

// Faults wraps a handler (the local object server) with injectable faults
// that can be changed while it serves.
type Faults struct {
	next http.Handler
	cfg  atomic.Pointer[FaultConfig]
}

// NewFaults wraps next with no faults set.
func NewFaults(next http.Handler) *Faults {
	f := &Faults{next: next}
	f.cfg.Store(&FaultConfig{})
	return f
}

// Set replaces the faults in force.
func (f *Faults) Set(cfg FaultConfig) { f.cfg.Store(&cfg) }

// ServeHTTP delays, fails or drops r as the faults in force say, and hands
// the rest to the wrapped server.
func (f *Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := f.cfg.Load()
	if cfg.Latency > 0 {
		select {
		case <-time.After(cfg.Latency):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case cfg.DropRate > 0 && rand.Float64() < cfg.DropRate:
		// Panicking with ErrAbortHandler is net/http's way to close the
		// connection without answering; the server does not log it.
		panic(http.ErrAbortHandler)
	case cfg.ErrorRate > 0 && rand.Float64() < cfg.ErrorRate:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version='1.0' encoding='utf-8' ?><Error><Code>ServiceUnavailable</Code>`+
			`<Message>Injected fault: please reduce your request rate.</Message></Error>`)
		return
	}
	f.next.ServeHTTP(w, r)
}
