// Where the mini program finds the wxavatar service.
//
// http://127.0.0.1:8080 is `go run ./cmd/wxavatar serve --dev` on the machine
// running WeChat DevTools (with "不校验合法域名" / urlCheck off, since it is
// plain HTTP on an IP). --dev takes the code wx.login gives in DevTools and
// logs it in as the one user "devtools", so the sample works there as it is.
// A phone cannot reach it: for preview and release, set the service's HTTPS
// domain here, the one listed under request 合法域名.
module.exports = {
  baseURL: 'http://127.0.0.1:8080'
}
