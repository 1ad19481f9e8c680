// 我的资料: avatar through wxavatar (chooseAvatar → storage → confirm) and
// the nickname (type="nickname" input, saved on form submit). The header row
// shows the small avatar as a list would: the service's square thumbnail,
// or the avatar itself where there is none. Under the avatar: what WeChat's
// content check says of it (avatar_review), followed up after an upload.
const client = require('../../utils/client')
const { messageFor, avatarReviewMessage } = require('../../utils/messages')

// After confirm answers pending, the profile is read again after each of
// these waits (about a minute in all) until the verdict is in. WeChat's
// verdict can take up to 30 minutes: a later one is read when the page
// shows again (onShow), never by polling on.
const REVIEW_POLL_DELAYS_MS = [2000, 4000, 8000, 15000, 30000]

// thumbOf is the picture for small places: avatar_thumb_url, falling back
// to avatar_url (null thumbnails: no avatar, or a service without them).
function thumbOf (user) {
  return (user && (user.avatar_thumb_url || user.avatar_url)) || ''
}

function reviewStatusOf (user) {
  return (user && user.avatar_review && user.avatar_review.status) || ''
}

function sleep (ms) {
  return new Promise(function (resolve) { setTimeout(resolve, ms) })
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
    saving: false,
    reviewStatus: '', // avatar_review.status: '', 'pending' or 'rejected'
    reviewMessage: '' // what it means, in Chinese; '' when nothing to say
  },

  // The waits of the follow-up after an upload; tests shorten them.
  reviewPollDelaysMs: REVIEW_POLL_DELAYS_MS,

  onLoad () {
    // Bumped whenever what the page shows must not be replaced by an
    // answer asked for before: a confirm's answer, the page's end.
    this.generation = 0
    this.reviewPoll = null // the running follow-up, while there is one
    this.confirmed = null // the last upload confirmed here: {id, url}
    this.loaded = false
    return this.loadProfile()
  },

  // Back on the page (from the background, another page, or the phone
  // locked while waiting): a pending check may have ended meanwhile.
  onShow () {
    if (!this.loaded || this.reviewPoll || this.data.reviewStatus !== 'pending') return
    return this.readAgain()
  },

  onUnload () {
    this.generation++
  },

  async loadProfile () {
    try {
      const user = await client.me()
      this.showUser(user)
      this.setData({ nickname: user.nickname || '' })
    } catch (err) {
      showError(err)
    }
    this.loaded = true
  },

  // showUser shows the user's avatar, thumbnail and review message.
  showUser (user) {
    this.setData({
      avatarUrl: user.avatar_url || '',
      thumbUrl: thumbOf(user),
      reviewStatus: reviewStatusOf(user),
      reviewMessage: avatarReviewMessage(user, this.confirmed)
    })
  },

  // readAgain reads the profile and shows it, quietly: a failure leaves the
  // page as it is. An answer that comes during an upload, or after a newer
  // confirm, is not shown. It resolves with the user shown, or null.
  async readAgain () {
    const generation = this.generation
    let user
    try {
      user = await client.me()
    } catch (err) {
      console.warn('wxavatar: reading the avatar review:', err && err.code, err && err.requestId, err)
      return null
    }
    if (generation !== this.generation || this.data.uploading) return null
    this.showUser(user)
    return user
  },

  // followUp reads the profile after each of reviewPollDelaysMs while the
  // avatar is pending; it stops once it is not, when the waits are used
  // up, or when the generation changes (a newer confirm, the page's end).
  followUp () {
    const generation = this.generation
    const delays = this.reviewPollDelaysMs
    const poll = (async () => {
      for (let i = 0; i < delays.length; i++) {
        await sleep(delays[i])
        if (generation !== this.generation) return
        const user = await this.readAgain()
        if (user && reviewStatusOf(user) !== 'pending') return
      }
    })()
    this.reviewPoll = poll
    const done = () => { if (this.reviewPoll === poll) this.reviewPoll = null }
    poll.then(done, done)
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
      const user = result.user
      // Older answers, and a follow-up of an earlier upload, are out of date.
      this.generation++
      this.confirmed = { id: result.upload.id, url: result.upload.url }
      this.setData({ uploading: false })
      this.showUser(user)
      if (reviewStatusOf(user) === 'rejected') {
        wx.showToast({ title: this.data.reviewMessage, icon: 'none', duration: 2500 })
      } else if (reviewStatusOf(user) === 'pending' && user.avatar_url !== result.upload.url) {
        // The service shows it once it passes (AVATAR_REVIEW=before).
        wx.showToast({ title: '头像已提交审核', icon: 'success' })
      } else {
        wx.showToast({ title: '头像已更新', icon: 'success' })
      }
      if (reviewStatusOf(user) === 'pending') this.followUp()
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
    const generation = this.generation
    try {
      const user = await client.setNickname(nickname)
      this.setData({ nickname: user.nickname, saving: false })
      // The answer is the whole user: the avatar's review may have moved on.
      if (generation === this.generation && !this.data.uploading) this.showUser(user)
      wx.showToast({ title: '昵称已保存', icon: 'success' })
    } catch (err) {
      this.setData({ saving: false })
      showError(err)
    }
  }
})
