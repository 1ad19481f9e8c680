'use strict'

// Runs pages/profile/profile.js as the mini program would, with Page() and
// wx provided here, against the real service: the chosen avatar ends up at
// its permanent URL, the nickname comes from the form submit, and failures
// become Chinese toasts.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { createFakeWx } = require('../test-support/fakewx')
const { startServer } = require('../test-support/server')
const images = require('../test-support/images')
const { MESSAGES } = require('../utils/messages')

let srv
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

before(async () => {
  srv = await startServer()
  files = images.tempFiles()
  fake = createFakeWx({ loginName: 'page-' + process.pid })
  global.wx = fake
  console.warn = (...args) => { warnings.push(args) }
  let def
  global.Page = (d) => { def = d }
  // config.js is read when utils/client.js is first required: point it at
  // this run's service first.
  require('../config').baseURL = srv.api
  require('../pages/profile/profile')
  page = instantiate(def)
  await page.onLoad()
}, { timeout: 200000 })

after(async () => {
  delete global.wx
  delete global.Page
  console.warn = consoleWarn
  if (files) files.remove()
  if (srv) assert.equal(await srv.stop(), 0)
})

function lastToast () {
  return fake.toasts[fake.toasts.length - 1]
}

test('onLoad logged in and showed the profile without an error', () => {
  assert.equal(fake.loginCalls, 1)
  assert.equal(fake.toasts.length, 0, JSON.stringify(fake.toasts))
  assert.equal(page.data.avatarUrl, '')
})

test('choosing an avatar uploads it and shows its permanent URL', async () => {
  const data = images.png(40)
  await page.onChooseAvatar({ detail: { avatarUrl: files.write(data, '.jpeg') } })
  assert.equal(lastToast().title, '头像已更新')
  assert.match(page.data.avatarUrl, /^http:\/\/127\.0\.0\.1:\d+\/avatars\/.+\.png$/)
  assert.equal(page.data.uploading, false)
  assert.equal(page.data.progress, 100)
  const res = await fetch(page.data.avatarUrl)
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), data)
})

test('a rejected avatar shows the Chinese message and keeps the old one', async () => {
  const before = page.data.avatarUrl
  await page.onChooseAvatar({ detail: { avatarUrl: files.write(images.notReallyPNG()) } })
  assert.deepEqual(lastToast(), { title: '头像格式不支持，请换一张图片', icon: 'none', duration: 2500 })
  assert.equal(page.data.avatarUrl, before)
  assert.equal(page.data.uploading, false)
  // The console keeps what support needs to find the failure in the logs.
  const [, code, requestId] = warnings[warnings.length - 1]
  assert.equal(code, 'upload_rejected')
  assert.ok(requestId)
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
