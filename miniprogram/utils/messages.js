// What the user reads for each error code of the wxavatar client (the API's
// codes and the client's own). Short enough for a two-line wx.showToast.
const MESSAGES = {
  // The client's own.
  network_error: '网络不给力，请稍后重试',
  login_failed: '微信登录失败，请重试',
  read_file_failed: '读取图片失败，请重新选择',
  unsupported_type: '头像格式不支持，请换一张图片',
  conversion_failed: '无法转换这张图片，请换一张',
  upload_failed: '头像上传失败，请重试',
  bad_response: '服务开小差了，请稍后重试',
  http_error: '服务开小差了，请稍后重试',
  // The API's.
  invalid_request: '请求有误，请更新小程序后重试',
  unauthorized: '登录已失效，请重新进入小程序',
  invalid_code: '微信登录失败，请重试',
  user_restricted: '账号存在风险，暂时无法登录',
  rate_limited: '操作太频繁，请稍后再试',
  wechat_unavailable: '微信服务繁忙，请稍后重试',
  invalid_nickname: '昵称需为 1–32 个字，且不含特殊字符',
  nickname_rejected: '昵称未通过审核，请换一个',
  moderation_unavailable: '内容审核繁忙，请稍后重试',
  user_inactive: '请重新进入小程序后再试',
  bad_signature: '请求有误，请更新小程序后重试',
  too_large: '图片太大，请换一张小一点的',
  upload_rejected: '头像格式不支持，请换一张图片',
  upload_missing: '头像还没传完，请重试',
  upload_expired: '上传已超时，请重新选择头像',
  upload_not_found: '上传记录不存在，请重新选择头像',
  storage_unavailable: '存储服务繁忙，请稍后重试',
  busy: '服务繁忙，请稍后重试',
  not_ready: '服务繁忙，请稍后重试',
  database_unavailable: '服务繁忙，请稍后重试',
  timeout: '请求超时，请稍后重试',
  request_too_large: '请求有误，请更新小程序后重试',
  not_found: '请求有误，请更新小程序后重试',
  method_not_allowed: '请求有误，请更新小程序后重试',
  internal_error: '服务开小差了，请稍后重试'
}

// What the user reads when upload_rejected comes with a reason
// (err.details.reason); an unknown reason gets upload_rejected's message.
const REJECTION_MESSAGES = {
  not_an_image: '这不是图片，请换一张',
  too_many_pixels: '图片尺寸太大，请换一张',
  too_small: '图片太小，请换一张大一点的',
  unsupported_format: '头像格式不支持，请换一张图片',
  too_large: '图片太大，请换一张小一点的',
  wrong_content_type: '头像格式不支持，请换一张图片',
  storage_class: '头像上传失败，请重试',
  unreadable: '头像上传失败，请重试'
}

const FALLBACK = '出错了，请稍后重试'

// What the user reads under the avatar about its content check
// (user.avatar_review), by status: WeChat checks every confirmed avatar
// after the fact. A rejection is said by its reason (below); these are for
// a pending avatar and for a reason this client does not know.
const AVATAR_REVIEW_MESSAGES = {
  pending: '头像审核中',
  rejected: '头像未通过审核，请换一张'
}

// pending, with the new avatar not shown until it passes (the service runs
// with AVATAR_REVIEW=before: avatar_url is still the previous one).
const AVATAR_HELD_MESSAGE = '头像审核中，通过后显示新头像'

// A rejected avatar by avatar_review.reason. It is final: the avatar was
// taken down (or never shown) and deleted; only a new one changes it.
const AVATAR_REJECTED_MESSAGES = {
  // WeChat found it risky: avatar_url went back to the previous avatar.
  risky: '头像未通过审核，已恢复为上一个头像',
  // WeChat wanted a human to look, and the service shows only what passed.
  review: '头像需人工审核，无法使用，请换一张',
  // No verdict came in time, and the service does not show unchecked ones.
  unchecked: '头像暂时无法审核，请稍后重新上传'
}

// risky, with no previous avatar to go back to (avatar_url is null).
const AVATAR_REMOVED_MESSAGE = '头像未通过审核，已移除'

function messageFor (err) {
  const code = err && err.code
  const reason = err && err.details && err.details.reason
  if (code === 'upload_rejected' && reason && REJECTION_MESSAGES[reason]) return REJECTION_MESSAGES[reason]
  return (code && MESSAGES[code]) || FALLBACK
}

// avatarReviewMessage says what user.avatar_review means for the user, or ''
// when there is nothing to say (no check, or it passed). upload, optional,
// is the upload confirm answered with (uploadAvatar's result.upload): while
// that upload is pending and avatar_url is not its URL, the new avatar is
// held back until it passes, and the message says so.
function avatarReviewMessage (user, upload) {
  const review = user && user.avatar_review
  if (!review || typeof review !== 'object') return ''
  if (review.status === 'pending') {
    const held = upload && upload.id === review.upload_id && upload.url && user.avatar_url !== upload.url
    return held ? AVATAR_HELD_MESSAGE : AVATAR_REVIEW_MESSAGES.pending
  }
  if (review.status === 'rejected') {
    if (review.reason === 'risky' && !user.avatar_url) return AVATAR_REMOVED_MESSAGE
    if (Object.prototype.hasOwnProperty.call(AVATAR_REJECTED_MESSAGES, review.reason)) {
      return AVATAR_REJECTED_MESSAGES[review.reason]
    }
    return AVATAR_REVIEW_MESSAGES.rejected
  }
  return '' // a status this client does not know
}

module.exports = {
  MESSAGES: MESSAGES,
  REJECTION_MESSAGES: REJECTION_MESSAGES,
  FALLBACK: FALLBACK,
  messageFor: messageFor,
  AVATAR_REVIEW_MESSAGES: AVATAR_REVIEW_MESSAGES,
  AVATAR_HELD_MESSAGE: AVATAR_HELD_MESSAGE,
  AVATAR_REJECTED_MESSAGES: AVATAR_REJECTED_MESSAGES,
  AVATAR_REMOVED_MESSAGE: AVATAR_REMOVED_MESSAGE,
  avatarReviewMessage: avatarReviewMessage
}
