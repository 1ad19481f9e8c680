'use strict'

// Runs pages/profile/profile.js as the mini program would, with Page() and
// wx provided here, against the real service: the chosen avatar ends up at
// its permanent URL, the nickname comes from the form submit, and failures
// become Chinese toasts.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { createFakeWx } = require('../test-support/fakewx')
const { startServer } = require('../test-support/server')
const { startProxy } = require('../test-support/proxy')
const images = require('../test-support/images')
const { assertStored } = require('../test-support/stored')
const {
  MESSAGES, REJECTION_MESSAGES, messageFor, AVATAR_REVIEW_MESSAGES, AVATAR_HELD_MESSAGE, AVATAR_REJECTED_MESSAGES
} = require('../utils/messages')
const { TOKEN_STORAGE_KEY } = require('../lib/wxavatar')

let srv
let proxy
let files
let fake
let page
const warnings = []
const consoleWarn = console.warn

// A page instance: the definition's data and methods, with setData.
function instantiate (def) {
  const inst = Object.assign({}, def)
  inst.data = JSON.parse(JSON.stringify(def.data))
  inst.setData = function (patch) { Object.assign(this.data, patch) }
  return inst
}

// launch starts the mini program afresh with this wx, as DevTools does: the
// page and the app's client are loaded anew, and the page's onLoad has run.
async function launch (wxapi) {
  global.wx = wxapi
  for (const m of ['../utils/client', '../pages/profile/profile']) delete require.cache[require.resolve(m)]
  let def
  global.Page = (d) => { def = d }
  require('../pages/profile/profile')
  const p = instantiate(def)
  await p.onLoad()
  return p
}

before(async () => {
  srv = await startServer()
  // The page talks to the service through a proxy that passes everything
  // on, except what a test's rules answer or rewrite.
  proxy = await startProxy(srv.api)
  files = images.tempFiles()
  // wx.login gives WeChat-shaped codes, as in DevTools.
  fake = createFakeWx()
  console.warn = (...args) => { warnings.push(args) }
  // config.js is read when utils/client.js is required: point it at this
  // run's service first.
  require('../config').baseURL = proxy.url
  page = await launch(fake)
}, { timeout: 200000 })

after(async () => {
  delete global.wx
  delete global.Page
  console.warn = consoleWarn
  if (files) files.remove()
  if (proxy) await proxy.close()
  if (srv) assert.equal(await srv.stop(), 0)
})

function lastToast () {
  return fake.toasts[fake.toasts.length - 1]
}

test('onLoad logged in and showed the profile without an error', () => {
  assert.equal(fake.loginCalls, 1)
  assert.match(fake.loginCodes[0], /^[0-9A-Za-z]{32}$/)
  assert.equal(fake.toasts.length, 0, JSON.stringify(fake.toasts))
  assert.equal(page.data.avatarUrl, '')
  assert.equal(page.data.thumbUrl, '')
})

// meNow asks the service itself for the user behind this wx's token.
async function meNow (w) {
  const token = w.getStorageSync(TOKEN_STORAGE_KEY)
  const res = await fetch(srv.api + '/v1/me', { headers: { Authorization: 'Bearer ' + token } })
  assert.equal(res.status, 200)
  return (await res.json()).user
}

test('choosing an avatar uploads it and shows its permanent URL', async () => {
  const data = images.png(40)
  await page.onChooseAvatar({ detail: { avatarUrl: files.write(data, '.jpeg') } })
  assert.equal(lastToast().title, '头像已更新')
  assert.match(page.data.avatarUrl, /^http:\/\/127\.0\.0\.1:\d+\/avatars\/.+\/avatar$/)
  assert.equal(page.data.uploading, false)
  assert.equal(page.data.progress, 100)
  // The header row shows the thumbnail the service wrote.
  const me = await meNow(fake)
  assert.equal(page.data.avatarUrl, me.avatar_url)
  assert.equal(page.data.thumbUrl, me.avatar_thumb_url)
  await assertStored({ avatar_url: page.data.avatarUrl, avatar_thumb_url: page.data.thumbUrl }, data, { width: 40, height: 40 })
})

test('a rejected avatar shows the Chinese message and keeps the old one', async () => {
  const before = page.data.avatarUrl
  const thumbBefore = page.data.thumbUrl
  await page.onChooseAvatar({ detail: { avatarUrl: files.write(images.notReallyPNG()) } })
  // The console keeps what support needs to find the failure in the logs.
  const [, code, requestId, err] = warnings[warnings.length - 1]
  assert.equal(code, 'upload_rejected')
  assert.ok(requestId)
  // The message for the reason the service gives.
  assert.equal(err.details.reason, 'not_an_image')
  assert.deepEqual(lastToast(), { title: REJECTION_MESSAGES.not_an_image, icon: 'none', duration: 2500 })
  assert.equal(messageFor(err), REJECTION_MESSAGES.not_an_image)
  assert.equal(page.data.avatarUrl, before)
  assert.equal(page.data.thumbUrl, thumbBefore)
  assert.equal(page.data.uploading, false)
})

test("a rejection's reason picks the toast", async () => {
  const before = page.data.avatarUrl
  proxy.rules = [{
    method: 'POST',
    path: /\/confirm$/,
    respond: { status: 422, body: { error: { code: 'upload_rejected', message: 'the image is smaller than 64×64', reason: 'too_small' } } }
  }]
  try {
    await page.onChooseAvatar({ detail: { avatarUrl: files.write(images.png(8)) } })
  } finally {
    proxy.rules = []
  }
  assert.equal(lastToast().title, '图片太小，请换一张大一点的')
  assert.equal(page.data.avatarUrl, before)
})

test('a HEIC avatar is converted on the phone and shown like any other', async () => {
  const before = page.data.avatarUrl
  await page.onChooseAvatar({ detail: { avatarUrl: files.write(images.heic(32, 32)) } })
  assert.equal(lastToast().title, '头像已更新')
  assert.match(page.data.avatarUrl, /\/avatar$/)
  assert.notEqual(page.data.avatarUrl, before)
  const me = await meNow(fake)
  assert.equal(page.data.thumbUrl, me.avatar_thumb_url)
  await assertStored({ avatar_url: page.data.avatarUrl, avatar_thumb_url: page.data.thumbUrl }, Buffer.alloc(0), { width: 32, height: 32 })
})

test('the nickname is taken from the form submit and saved', async () => {
  await page.onSubmit({ detail: { value: { nickname: ' 小明 ' } } })
  assert.equal(lastToast().title, '昵称已保存')
  assert.equal(page.data.nickname, '小明')
})

test('a blank nickname is caught on the page, an invalid one by the service', async () => {
  const sent = fake.log.length
  await page.onSubmit({ detail: { value: { nickname: '  ' } } })
  assert.equal(lastToast().title, '请输入昵称')
  assert.equal(fake.log.length, sent, 'a blank nickname went to the service')

  await page.onSubmit({ detail: { value: { nickname: 'x'.repeat(40) } } })
  assert.equal(lastToast().title, MESSAGES.invalid_nickname)
  assert.equal(fake.log[fake.log.length - 1].code, 'invalid_nickname')
  assert.equal(page.data.nickname, '小明')
  assert.equal(page.data.saving, false)
})

// In DevTools wx.login gives a real code that only WeChat could exchange;
// serve --dev logs every such code in as the one user devtools, so that what
// was saved in one launch is there in the next.
test('DevTools: a later launch logs in with a new WeChat-shaped code and finds the same avatar and nickname', async () => {
  assert.match(page.data.avatarUrl, /^http:\/\/127\.0\.0\.1:\d+\/avatars\//, 'an earlier test set no avatar')
  // A launch with empty storage (cache cleared, or another machine): no
  // token, so the client logs in again.
  const next = createFakeWx()
  const toasts = fake.toasts.length
  const again = await launch(next)
  assert.equal(next.loginCalls, 1)
  assert.match(next.loginCodes[0], /^[0-9A-Za-z]{32}$/)
  assert.notEqual(next.loginCodes[0], fake.loginCodes[0])
  assert.equal(next.toasts.length, 0, JSON.stringify(next.toasts))
  assert.equal(fake.toasts.length, toasts)
  assert.equal(again.data.avatarUrl, page.data.avatarUrl)
  assert.equal(again.data.thumbUrl, page.data.thumbUrl)
  assert.equal(again.data.nickname, '小明')

  // Both launches' tokens are the same user's.
  const ids = []
  for (const w of [fake, next]) {
    const token = w.getStorageSync(TOKEN_STORAGE_KEY)
    const res = await fetch(srv.api + '/v1/me', { headers: { Authorization: 'Bearer ' + token } })
    assert.equal(res.status, 200)
    ids.push((await res.json()).user.id)
  }
  assert.equal(ids[0], ids[1])
})

// The header row: avatar_thumb_url where the service gives one, avatar_url
// where it is null; the big avatar is always avatar_url.
test('the header row shows avatar_thumb_url, and avatar_url when the thumbnail is null', async () => {
  const thumb = 'http://127.0.0.1:1/avatars/thumbs/some-user.jpg'
  const setThumb = (value) => [{
    method: 'GET',
    path: /^\/v1\/me$/,
    rewrite: (status, json) => {
      if (json.user) json.user.avatar_thumb_url = value
      return json
    }
  }]
  try {
    proxy.rules = setThumb(thumb)
    const withThumb = await launch(createFakeWx())
    assert.equal(withThumb.data.thumbUrl, thumb)
    assert.match(withThumb.data.avatarUrl, /^http:\/\/127\.0\.0\.1:\d+\/avatars\//)
    assert.notEqual(withThumb.data.avatarUrl, thumb)

    proxy.rules = setThumb(null)
    const without = await launch(createFakeWx())
    assert.equal(without.data.thumbUrl, without.data.avatarUrl)
  } finally {
    proxy.rules = []
  }
})

// avatar_review: serve --dev checks no content, so the proxy makes the
// answers of a service that does.

// launchAgain launches the mini program afresh (as the DevTools user, who
// has an avatar by now), with the page's follow-up waits shortened.
async function launchAgain (delays) {
  const w = createFakeWx()
  const p = await launch(w)
  p.reviewPollDelaysMs = delays
  return { w, p, toast: () => w.toasts[w.toasts.length - 1] }
}

// meCalls counts the GET /v1/me the proxy saw since proxy.calls was emptied.
function meCalls () {
  return proxy.calls.filter((c) => c.method === 'GET' && c.path === '/v1/me').length
}

// reviewed rewrites a user as the service tells of a review of upload.
function reviewed (json, review, avatar) {
  json.user.avatar_review = review
  if (avatar) {
    json.user.avatar_url = avatar.avatarUrl || null
    json.user.avatar_thumb_url = avatar.thumbUrl || null
  }
  return json
}

test('AVATAR_REVIEW=before: the new avatar waits for its check, the page says so and follows up until it passes', async () => {
  const { p: page, toast } = await launchAgain([20, 40, 80, 160])
  const before = { avatarUrl: page.data.avatarUrl, thumbUrl: page.data.thumbUrl }
  assert.ok(before.avatarUrl, 'an earlier test set no avatar')
  let uploadID = ''
  proxy.calls.length = 0
  proxy.rules = [{
    method: 'POST',
    path: /\/confirm$/,
    rewrite: (status, json) => {
      uploadID = json.upload.id
      return reviewed(json, { status: 'pending', upload_id: uploadID }, before)
    }
  }, {
    // Still pending for the first two reads; then the service's own
    // answer: the check passed, the new avatar is shown.
    method: 'GET',
    path: /^\/v1\/me$/,
    times: 2,
    rewrite: (status, json) => reviewed(json, { status: 'pending', upload_id: uploadID }, before)
  }]
  try {
    await page.onChooseAvatar({ detail: { avatarUrl: files.write(images.png(36)) } })
    assert.equal(toast().title, '头像已提交审核')
    assert.equal(page.data.avatarUrl, before.avatarUrl)
    assert.equal(page.data.thumbUrl, before.thumbUrl)
    assert.equal(page.data.reviewStatus, 'pending')
    assert.equal(page.data.reviewMessage, AVATAR_HELD_MESSAGE)
    assert.equal(page.data.reviewMessage, '头像审核中，通过后显示新头像')
    const poll = page.reviewPoll
    assert.ok(poll, 'no follow-up')
    assert.equal(meCalls(), 0)
    await poll
  } finally {
    proxy.rules = []
  }
  assert.equal(page.reviewPoll, null)
  assert.equal(meCalls(), 3, 'the follow-up did not stop once the check passed')
  const me = await meNow(global.wx)
  assert.notEqual(me.avatar_url, before.avatarUrl)
  assert.equal(page.data.avatarUrl, me.avatar_url)
  assert.equal(page.data.thumbUrl, me.avatar_thumb_url)
  assert.equal(page.data.reviewStatus, '')
  assert.equal(page.data.reviewMessage, '')
})

test('AVATAR_REVIEW=after: the new avatar shows at once; the follow-up is bounded; showing the page again reads the verdict', async () => {
  const { p: page, w, toast } = await launchAgain([10, 20, 30])
  let uploadID = ''
  proxy.calls.length = 0
  const pending = (status, json) => reviewed(json, { status: 'pending', upload_id: uploadID })
  proxy.rules = [{
    method: 'POST',
    path: /\/confirm$/,
    rewrite: (status, json) => {
      uploadID = json.upload.id
      return pending(status, json)
    }
  }, { method: 'GET', path: /^\/v1\/me$/, rewrite: pending }]
  let shown
  try {
    const previous = { avatarUrl: page.data.avatarUrl, thumbUrl: page.data.thumbUrl }
    await page.onChooseAvatar({ detail: { avatarUrl: files.write(images.png(38)) } })
    assert.equal(toast().title, '头像已更新')
    assert.notEqual(page.data.avatarUrl, previous.avatarUrl)
    shown = { avatarUrl: page.data.avatarUrl, thumbUrl: page.data.thumbUrl }
    assert.equal(page.data.reviewMessage, AVATAR_REVIEW_MESSAGES.pending)
    assert.equal(page.data.reviewMessage, '头像审核中')
    // While a follow-up runs, showing the page asks nothing more.
    await page.onShow()
    assert.equal(meCalls(), 0)
    await page.reviewPoll
    // Once per wait, and no more: the verdict did not come in time.
    assert.equal(meCalls(), page.reviewPollDelaysMs.length)
    assert.equal(page.reviewPoll, null)
    assert.equal(page.data.reviewMessage, '头像审核中')
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(meCalls(), page.reviewPollDelaysMs.length, 'the follow-up went on')

    // Back on the page later: the verdict is in. WeChat found it risky, and
    // the service went back to the previous avatar.
    proxy.rules = [{
      method: 'GET',
      path: /^\/v1\/me$/,
      rewrite: (status, json) => reviewed(json, { status: 'rejected', upload_id: uploadID, reason: 'risky' }, previous)
    }]
    await page.onShow()
    assert.equal(meCalls(), page.reviewPollDelaysMs.length + 1)
    assert.equal(page.data.reviewStatus, 'rejected')
    assert.equal(page.data.reviewMessage, '头像未通过审核，已恢复为上一个头像')
    assert.equal(page.data.avatarUrl, previous.avatarUrl)
    assert.equal(page.data.thumbUrl, previous.thumbUrl)
    // Nothing pending: showing the page again asks nothing.
    await page.onShow()
    assert.equal(meCalls(), page.reviewPollDelaysMs.length + 1)
  } finally {
    proxy.rules = []
  }
  // The real service (no checks here) still shows the upload.
  assert.equal((await meNow(w)).avatar_url, shown.avatarUrl)
})

test('leaving the page stops the follow-up; a failed read leaves the page as it was', async () => {
  const { p: page, w } = await launchAgain([30, 30, 30])
  let uploadID = ''
  proxy.calls.length = 0
  const pending = (status, json) => reviewed(json, { status: 'pending', upload_id: uploadID })
  proxy.rules = [{
    method: 'POST',
    path: /\/confirm$/,
    rewrite: (status, json) => {
      uploadID = json.upload.id
      return pending(status, json)
    }
  }]
  try {
    await page.onChooseAvatar({ detail: { avatarUrl: files.write(images.png(34)) } })
    assert.equal(page.data.reviewStatus, 'pending')
    page.onUnload()
    await page.reviewPoll
    assert.equal(meCalls(), 0, 'the follow-up went on after the page closed')

    // A follow-up whose reads fail: no toast, the page unchanged.
    const toasts = w.toasts.length
    const shown = Object.assign({}, page.data)
    proxy.rules = [{
      method: 'GET',
      path: /^\/v1\/me$/,
      respond: { status: 503, body: { error: { code: 'database_unavailable', message: 'down' } } }
    }]
    page.followUp()
    await page.reviewPoll
    assert.equal(meCalls(), 3)
    assert.equal(w.toasts.length, toasts)
    assert.deepEqual(page.data, shown)
  } finally {
    proxy.rules = []
  }
})

test('on launch the page shows a rejection by its reason, and a pending check is read again on show', async () => {
  const cases = [
    [{ status: 'rejected', upload_id: 'u1', reason: 'review' }, '头像需人工审核，无法使用，请换一张'],
    [{ status: 'rejected', upload_id: 'u1', reason: 'unchecked' }, '头像暂时无法审核，请稍后重新上传'],
    [{ status: 'rejected', upload_id: 'u1', reason: 'risky' }, AVATAR_REJECTED_MESSAGES.risky],
    [{ status: 'pending', upload_id: 'u1' }, '头像审核中']
  ]
  try {
    for (const [review, message] of cases) {
      proxy.rules = [{ method: 'GET', path: /^\/v1\/me$/, rewrite: (status, json) => reviewed(json, review) }]
      const next = createFakeWx()
      const launched = await launch(next)
      assert.equal(launched.data.reviewStatus, review.status)
      assert.equal(launched.data.reviewMessage, message)
      assert.equal(next.toasts.length, 0, JSON.stringify(next.toasts))
    }
    // The last launch is pending; its verdict comes while the page is hidden.
    const launched = await launch(createFakeWx())
    proxy.rules = []
    await launched.onShow()
    assert.equal(launched.data.reviewStatus, '')
    assert.equal(launched.data.reviewMessage, '')
  } finally {
    proxy.rules = []
  }
})
