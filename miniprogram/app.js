// The app itself holds nothing: the wxavatar client (utils/client.js) keeps
// the session token in storage and logs in when a page first needs it.
App({})
