// The app's one wxavatar client: the service from config.js, the session
// token in wx storage so that it survives restarts.
const { createClient } = require('../lib/wxavatar')
const config = require('../config')

const storage = {
  get: function (key) { return wx.getStorageSync(key) },
  set: function (key, value) { wx.setStorageSync(key, value) },
  remove: function (key) { wx.removeStorageSync(key) }
}

module.exports = createClient({ baseURL: config.baseURL, storage: storage })
