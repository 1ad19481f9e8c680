package netfail

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestDescribe(t *testing.T) {
	secret := "https://api.weixin.qq.com/cgi-bin/x?access_token=SECRET"
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("call: %w", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "canceled"},
		{&url.Error{Op: "Post", URL: secret, Err: timeoutErr{}}, "timeout"},
		{&url.Error{Op: "Post", URL: secret, Err: errors.New("connection refused")}, "network error: Post"},
		{errors.New("other " + secret), "network error"},
	} {
		if got := Describe(tt.err); got != tt.want || strings.Contains(got, "SECRET") {
			t.Errorf("Describe(%v) = %q; want %q", tt.err, got, tt.want)
		}
	}
}
