package wechat

import "errors"

// Errors of Decode. The handler answers ErrBadSignature with 403 and the others with 400; every
// error Decode returns wraps exactly one of them.
var (
	// ErrBadSignature: the push's signature (plain mode) or msg_signature (compatible and safe
	// mode) does not match any accepted Token, or it came without encryption while the accepted
	// secrets say the console encrypts.
	ErrBadSignature = errors.New("wechat: the push signature does not match")
	// ErrWrongAppID: the envelope decrypted but was sealed for another mini program.
	ErrWrongAppID = errors.New("wechat: the push is for another AppID")
	// ErrMalformed: the query or the body is not a push WeChat would send.
	ErrMalformed = errors.New("wechat: malformed push")
)
