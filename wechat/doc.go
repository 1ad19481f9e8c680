// Package wechat owns wxavatar's calls to WeChat's server APIs beyond login
// (which stays in auth): the stable access token those APIs need, cached per
// process and renewed ahead of expiry, and content security — the
// synchronous nickname check (msgSecCheck) and the asynchronous image check
// (mediaCheckAsync) whose verdict WeChat pushes back later. Verifying and
// reading that message push lives here too, in push.go.
//
// Every failure is translated once into this package's errors
// (ErrUnavailable, ErrBadCredentials, ErrUserInactive); the access token and
// the AppSecret never appear in an error.
package wechat
