// Package netfail says what went wrong with an HTTP call in words safe to
// log: net/http's errors quote the request URL, which for WeChat's APIs
// carries the AppSecret or the access token.
package netfail

import (
	"context"
	"errors"
	"net/url"
)

// Describe names err's kind ("timeout", "canceled", "network error: Post")
// without the URL or anything else from the request.
func Describe(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timeout"
		}
		return "network error: " + ue.Op
	}
	return "network error"
}
