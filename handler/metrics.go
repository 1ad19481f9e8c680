package handler

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's Prometheus metrics, on a registry of their own
// (no global state).
type Metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	upstream   *prometheus.CounterVec
	upLatency  *prometheus.HistogramVec
	uploads    *prometheus.CounterVec
	moderation *prometheus.CounterVec
}

// NewMetrics registers every metric, with the Go runtime's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxavatar_http_requests_total", Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wxavatar_http_request_duration_seconds", Help: "HTTP request latency by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxavatar_upstream_requests_total",
			Help: "Calls to WeChat and object storage (upstream: wechat, or the STORAGE provider) by outcome: ok, client_error (4xx), server_error (5xx), error (network, timeout).",
		}, []string{"upstream", "outcome"}),
		upLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wxavatar_upstream_request_duration_seconds", Help: "Latency of calls to WeChat and object storage.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"upstream"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxavatar_uploads_total", Help: "Uploads by event: issued, confirmed, rejected, expired.",
		}, []string{"event"}),
		moderation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxavatar_moderation_checks_total",
			Help: "Content security checks by what was checked (nickname, avatar) and outcome: a verdict (pass, review, risky), asked (an avatar check requested), unavailable or refused (a call that failed), timeout (no avatar verdict by the deadline), other.",
		}, []string{"what", "outcome"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.upstream, m.upLatency, m.uploads, m.moderation,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, e := range []string{"issued", "confirmed", "rejected", "expired"} {
		m.uploads.WithLabelValues(e) // export zeros, so rates work from the start
	}
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// ModerationEvent counts one content check by what it checked and its
// outcome (avatar.Events lists them); nil-safe like UploadEvent.
func (m *Metrics) ModerationEvent(what, outcome string) {
	if m == nil {
		return
	}
	switch outcome { // bounded labels, whatever a checker answers
	case "pass", "review", "risky", "unavailable", "refused", "asked", "timeout":
	default:
		outcome = "other"
	}
	m.moderation.WithLabelValues(what, outcome).Inc()
}

// UploadEvent counts one upload event; nil-safe so tests may leave Metrics out.
func (m *Metrics) UploadEvent(event string, n int) {
	if m != nil && n > 0 {
		m.uploads.WithLabelValues(event).Add(float64(n))
	}
}

func (m *Metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // answer now, so the status is the one sent
		}
		route, method := routeLabel(c), methodLabel(c.Request().Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
		m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return nil
	}
}

// routeLabel is the request's route template, or "unmatched": Echo sets
// c.Path() only to a registered template, so the values are as many as the
// routes. Never the raw path, which any client chooses.
func routeLabel(c echo.Context) string {
	if route := c.Path(); route != "" {
		return route
	}
	return "unmatched"
}

// methodLabel is the request method when it is one of HTTP's usual ones,
// "other" otherwise. Go's server accepts any token as a method, of any
// length, so a raw method as a label (or a log field) would let any client
// add label values without end: memory that grows for good, and a /metrics
// page that grows with it.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// InstrumentTransport measures the calls made through next to upstream
// ("wechat", or the storage provider: "cos", "oss" or "s3").
func (m *Metrics) InstrumentTransport(upstream string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	for _, o := range []string{"ok", "client_error", "server_error", "error"} {
		m.upstream.WithLabelValues(upstream, o)
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(r)
		m.upLatency.WithLabelValues(upstream).Observe(time.Since(start).Seconds())
		outcome := "error"
		switch {
		case err != nil:
		case resp.StatusCode >= 500:
			outcome = "server_error"
		case resp.StatusCode >= 400:
			outcome = "client_error"
		default:
			outcome = "ok"
		}
		m.upstream.WithLabelValues(upstream, outcome).Inc()
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type requestIDKey struct{}

// LogHandler adds the request id, when the context carries one, to every
// log record made with that context.
func LogHandler(next slog.Handler) slog.Handler {
	if h, ok := next.(ctxHandler); ok {
		return h // already wrapped: one request_id per line
	}
	return ctxHandler{next}
}

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(as)}
}
func (h ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{h.Handler.WithGroup(name)} }
