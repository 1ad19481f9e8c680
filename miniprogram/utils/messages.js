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
  storage_class: '头像上传失败，请重试'
}

const FALLBACK = '出错了，请稍后重试'

function messageFor (err) {
  const code = err && err.code
  const reason = err && err.details && err.details.reason
  if (code === 'upload_rejected' && reason && REJECTION_MESSAGES[reason]) return REJECTION_MESSAGES[reason]
  return (code && MESSAGES[code]) || FALLBACK
}

module.exports = { MESSAGES: MESSAGES, REJECTION_MESSAGES: REJECTION_MESSAGES, FALLBACK: FALLBACK, messageFor: messageFor }
