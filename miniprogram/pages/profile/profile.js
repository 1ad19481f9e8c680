// 我的资料: avatar through wxavatar (chooseAvatar → COS → confirm) and the
// nickname (type="nickname" input, saved on form submit). The header row
// shows the small avatar as a list would: the service's square thumbnail,
// or the avatar itself where there is none.
const client = require('../../utils/client')
const { messageFor } = require('../../utils/messages')

// thumbOf is the picture for small places: avatar_thumb_url, falling back
// to avatar_url (null thumbnails: no avatar, or a service without them).
function thumbOf (user) {
  return (user && (user.avatar_thumb_url || user.avatar_url)) || ''
}

function showError (err) {
  // The request id lets the service's logs find this very failure.
  console.warn('wxavatar:', err && err.code, err && err.requestId, err)
  wx.showToast({ title: messageFor(err), icon: 'none', duration: 2500 })
}

Page({
  data: {
    avatarUrl: '', // the permanent URL, or the temporary file while it uploads
    thumbUrl: '', // the thumbnail of the saved avatar, for the header row
    nickname: '',
    uploading: false,
    progress: 0,
    saving: false
  },

  onLoad () {
    return this.loadProfile()
  },

  async loadProfile () {
    try {
      const user = await client.me()
      this.setData({ avatarUrl: user.avatar_url || '', thumbUrl: thumbOf(user), nickname: user.nickname || '' })
    } catch (err) {
      showError(err)
    }
  },

  // The temporary file dies with this run of the mini program: upload it now.
  async onChooseAvatar (e) {
    const tempFilePath = e.detail && e.detail.avatarUrl
    if (!tempFilePath || this.data.uploading) return
    const previous = this.data.avatarUrl
    // Show the chosen picture at once; it turns into the permanent URL, or
    // back into the old avatar, when the upload ends.
    this.setData({ uploading: true, progress: 0, avatarUrl: tempFilePath })
    let lastProgress = 0
    try {
      const result = await client.uploadAvatar(tempFilePath, {
        onProgress: (percent) => {
          // onProgressUpdate fires often; only a new percentage is worth a
          // setData round trip to the view layer.
          if (percent !== lastProgress) {
            lastProgress = percent
            this.setData({ progress: percent })
          }
        }
      })
      this.setData({ avatarUrl: result.user.avatar_url, thumbUrl: thumbOf(result.user), uploading: false })
      wx.showToast({ title: '头像已更新', icon: 'success' })
    } catch (err) {
      this.setData({ avatarUrl: previous, uploading: false })
      showError(err)
    }
  },

  // type="nickname" only reliably hands its value to a form submit, so the
  // nickname is read from e.detail.value rather than from a bound input.
  async onSubmit (e) {
    const nickname = (e.detail && e.detail.value && e.detail.value.nickname) || ''
    if (this.data.saving) return
    // A convenience only: the service decides what a valid nickname is.
    if (!nickname.trim()) {
      wx.showToast({ title: '请输入昵称', icon: 'none' })
      return
    }
    this.setData({ saving: true })
    try {
      const user = await client.setNickname(nickname)
      this.setData({ nickname: user.nickname, saving: false })
      wx.showToast({ title: '昵称已保存', icon: 'success' })
    } catch (err) {
      this.setData({ saving: false })
      showError(err)
    }
  }
})
