package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxavatar/wxavatar/avatar"
)

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	ta := newTestAPI(t, func(d *Deps, a *avatar.Config) { d.Metrics, a.Events = m, m })
	token, _ := ta.login(t, "mia")
	for i := 0; i < 3; i++ {
		ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/png"}`)
	}
	ta.do(t, "GET", "/v1/me", "", "")
	ta.do(t, "GET", "/no/such/route/123", "", "")

	// COS calls through an instrumented transport.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer upstream.Close()
	rt := m.InstrumentTransport("cos", http.DefaultTransport)
	req, _ := http.NewRequestWithContext(context.Background(), "GET", upstream.URL, nil)
	if resp, err := rt.RoundTrip(req); err == nil {
		resp.Body.Close()
	}
	m.UploadEvent("expired", 2)

	body := scrape(t, m)
	for _, want := range []string{
		`wxavatar_http_requests_total{method="POST",route="/v1/avatar/uploads",status="201"} 3`,
		`wxavatar_http_requests_total{method="GET",route="/v1/me",status="401"} 1`,
		`wxavatar_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`wxavatar_http_request_duration_seconds_count{method="POST",route="/v1/session"} 1`,
		`wxavatar_uploads_total{event="issued"} 3`,
		`wxavatar_uploads_total{event="confirmed"} 0`,
		`wxavatar_uploads_total{event="expired"} 2`,
		`wxavatar_upstream_requests_total{outcome="server_error",upstream="cos"} 1`,
		`wxavatar_upstream_request_duration_seconds_count{upstream="cos"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "/no/such/route") {
		t.Errorf("/metrics carries a raw path as a label")
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// TestMetricLabelsBounded: whatever methods and paths clients send, the
// request metrics keep one series per route, known method and status, and
// the log never carries the raw method. Go's server takes any token as a
// method, so each new one used to be a new series, kept for good.
func TestMetricLabelsBounded(t *testing.T) {
	m := NewMetrics()
	ta := newTestAPI(t, func(d *Deps, a *avatar.Config) { d.Metrics, a.Events = m, m })
	long := strings.Repeat("M", 4096)
	for i := 0; i < 200; i++ {
		method := fmt.Sprintf("X%d%s", i, long)
		serveRaw(ta.e, method, "/v1/me", "", nil)
		serveRaw(ta.e, method, fmt.Sprintf("/no/such/%d", i), "", nil)
		serveRaw(ta.e, "GET", fmt.Sprintf("/v1/avatar/uploads/%d/confirm", i), "", nil)
	}
	body := scrape(t, m)
	series := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "wxavatar_http_requests_total{") {
			series++
		}
	}
	// other × {/v1/me 405, unmatched 404} and GET × the confirm route's 405.
	if series != 3 {
		t.Errorf("%d series of wxavatar_http_requests_total; want 3:\n%s", series, body)
	}
	for _, want := range []string{
		`wxavatar_http_requests_total{method="other",route="/v1/me",status="405"} 200`,
		`wxavatar_http_requests_total{method="other",route="unmatched",status="404"} 200`,
		`wxavatar_http_requests_total{method="GET",route="/v1/avatar/uploads/:id/confirm",status="405"} 200`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if len(body) > 64<<10 {
		t.Errorf("/metrics is %d bytes after 600 requests", len(body))
	}
	for _, leak := range []string{long[:64], "/no/such/", "X199"} {
		if strings.Contains(body, leak) || strings.Contains(ta.logs.String(), leak) {
			t.Errorf("/metrics or the log carries %.20q…, a raw method or path", leak)
		}
	}
}

// TestLogLinesCarryRequestID: every line a request logs names it.
// TestModerationOutcomes: every outcome the avatar service reports keeps
// its label; anything else is "other", so no checker answer can grow the
// series.
func TestModerationOutcomes(t *testing.T) {
	m := NewMetrics()
	for _, o := range []string{"pass", "review", "risky", "unavailable", "refused", "asked", "timeout", "block", "a\nb"} {
		m.ModerationEvent("avatar", o)
	}
	body := scrape(t, m)
	for _, want := range []string{"pass", "review", "risky", "unavailable", "refused", "asked", "timeout"} {
		if line := `wxavatar_moderation_checks_total{outcome="` + want + `",what="avatar"} 1`; !strings.Contains(body, line) {
			t.Errorf("missing %s", line)
		}
	}
	if line := `wxavatar_moderation_checks_total{outcome="other",what="avatar"} 2`; !strings.Contains(body, line) {
		t.Errorf("missing %s", line)
	}
}

func TestLogLinesCarryRequestID(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, _ := ta.login(t, "noah")
	a := ta.do(t, "POST", "/v1/avatar/uploads", token, `{"content_type":"image/png"}`)
	id := decode[newUploadResponse](t, a).Upload.ID
	ta.objects.OnPeek = func(string, int) (avatar.ObjectInfo, []byte, error) {
		return avatar.ObjectInfo{Size: 5, ContentType: "image/png", StorageClass: avatar.StandardClass}, []byte("hello"), nil
	}
	ta.logs.Reset()
	r := ta.do(t, "POST", "/v1/avatar/uploads/"+id+"/confirm", token, "", "X-Request-Id", "trace-42")
	if r.status != 422 {
		t.Fatalf("confirm: %d", r.status)
	}
	lines := strings.Split(strings.TrimSpace(ta.logs.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want the rejection and the request line, got %q", lines)
	}
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if rec["request_id"] != "trace-42" || strings.Count(line, `"request_id"`) != 1 {
			t.Errorf("log line without the request id: %s", line)
		}
	}
}
