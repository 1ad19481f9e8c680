package wechat

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Names of the events the service acts on, as WeChat sends them in Event.
const (
	// EventMediaCheck carries the verdict of a media_check_async call, matched on its trace_id.
	EventMediaCheck = "wxa_media_check"
	// EventUserInfoModified says WeChat cleaned up a user's risky profile data.
	EventUserInfoModified = "user_info_modified"
	// EventUserAuthorizationRevoke says a user withdrew some of what they authorised; RevokeInfo says what.
	EventUserAuthorizationRevoke = "user_authorization_revoke"
	// EventUserAuthorizationCancellation says a user deleted their WeChat account.
	EventUserAuthorizationCancellation = "user_authorization_cancellation"
)

// RevokeInfo values that concern a nickname or an avatar (mini program doc
// authorized_user_information_changes, Body.RevokeInfo enum).
const (
	// RevokeNicknameAndAvatar is 昵称和头像.
	RevokeNicknameAndAvatar = 6
	// RevokeKeyboardNickname is the WeChat nickname picked from the nickname input's keyboard.
	RevokeKeyboardNickname = 19
	// RevokeAvatarComponent is the WeChat avatar picked in the chooseAvatar component.
	RevokeAvatarComponent = 20
)

// Event is one message or event from a push, read from its JSON or XML form (both use the same
// field names). Unknown events parse too, with their Event name set, so that the caller can
// acknowledge and ignore them.
type Event struct {
	// ToUserName is the mini program's original ID (gh_…).
	ToUserName string
	// FromUserName is the sender. For the user-information events WeChat documents it as the
	// platform's push account, not the user: the user is OpenID.
	FromUserName string
	// CreateTime is the Unix time WeChat sent the event; 0 when absent or unreadable.
	CreateTime int64
	// MsgType is "event" for events.
	MsgType string
	// Event is the event's name, e.g. EventMediaCheck.
	Event string

	// OpenID is the user an information-change event concerns (field OpenID). WeChat has been seen
	// to omit it from user_info_modified.
	OpenID string
	// AppID is the mini program's AppID when the event carries one (appid in wxa_media_check,
	// AppID in the user-information events).
	AppID string
	// RevokeInfo lists what a user_authorization_revoke withdrew, e.g. RevokeNicknameAndAvatar.
	// WeChat documents a string; a number, a list, or several numbers in one string are accepted.
	RevokeInfo []int
	// PluginID is set when the user withdrew what they authorised a plugin of the mini program
	// (the plugin's AppID), not the mini program itself.
	PluginID string

	// Message is the message the event was read from, decrypted in compatible and safe mode. It
	// holds personal data (openids): log it only where such data may go.
	Message []byte

	mediaCheck mediaCheck
}

// mediaCheck holds wxa_media_check's own fields, read through Event.MediaCheck so that nobody
// interprets the v1 fields by hand.
type mediaCheck struct {
	traceID    string
	suggest    string
	label      optInt
	isRisky    optInt // v1
	statusCode optInt // v1: 0, or why the media could not be checked
}

// MediaCheck returns a wxa_media_check verdict. ok is false for any other event or one without a
// trace_id. suggest is SuggestPass, SuggestReview or SuggestRisky, or "" when the verdict is
// unknown; label is result.label (100 normal, 20002 porn, …), or 0 when absent.
//
// Old v1-shaped pushes have isrisky and status_code instead of result. The v1 doc defines isrisky
// 1 as risky and 0 as "no risk detected yet", and status_code non-zero as a failed check (for
// example 4294966288, the media could not be downloaded); so isrisky 1 is risky, 0 with a zero
// status_code is a pass, and anything else is unknown.
func (e Event) MediaCheck() (traceID string, suggest Suggest, label int, ok bool) {
	m := e.mediaCheck
	if e.Event != EventMediaCheck || m.traceID == "" {
		return "", "", 0, false
	}
	switch {
	case m.suggest != "":
		switch s := Suggest(strings.ToLower(strings.TrimSpace(m.suggest))); s {
		case SuggestPass, SuggestReview, SuggestRisky:
			suggest = s
		}
		if m.label.ok && m.label.v >= math.MinInt32 && m.label.v <= math.MaxInt32 {
			label = int(m.label.v)
		}
	case m.isRisky.ok && m.isRisky.v == 1:
		suggest = SuggestRisky
	case m.isRisky.ok && m.isRisky.v == 0 && (!m.statusCode.ok || m.statusCode.v == 0):
		suggest = SuggestPass
	}
	return m.traceID, suggest, label, true
}

// Revoked reports what a user_authorization_revoke withdrew that the service keeps: the nickname,
// the avatar, or both. It reports nothing for any other event, nor for a withdrawal from a plugin
// (PluginID), which concerns what the plugin keeps.
func (e Event) Revoked() (nickname, avatar bool) {
	if e.Event != EventUserAuthorizationRevoke || e.PluginID != "" {
		return false, false
	}
	for _, v := range e.RevokeInfo {
		switch v {
		case RevokeNicknameAndAvatar:
			nickname, avatar = true, true
		case RevokeKeyboardNickname:
			nickname = true
		case RevokeAvatarComponent:
			avatar = true
		}
	}
	return nickname, avatar
}

// format is a body's encoding, told by its first byte: WeChat's Content-Type is not something to
// rely on, and a JSON object cannot start like an XML document.
type format int

const (
	formatUnknown format = iota
	formatJSON
	formatXML
)

func sniff(body []byte) format {
	b := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case len(b) == 0:
		return formatUnknown
	case b[0] == '{':
		return formatJSON
	case b[0] == '<':
		return formatXML
	}
	return formatUnknown
}

// parseEvent reads a plaintext message.
func parseEvent(msg []byte) (Event, error) {
	var e Event
	switch sniff(msg) {
	case formatJSON:
		var w jsonEvent
		if err := json.Unmarshal(msg, &w); err != nil {
			return Event{}, fmt.Errorf("%w: the message is not the JSON expected", ErrMalformed)
		}
		e = Event{
			ToUserName:   w.ToUserName,
			FromUserName: w.FromUserName,
			CreateTime:   w.CreateTime.v,
			MsgType:      w.MsgType,
			Event:        w.Event,
			OpenID:       w.OpenID,
			AppID:        w.AppID,
			RevokeInfo:   w.RevokeInfo,
			PluginID:     w.PluginID,
			mediaCheck: mediaCheck{
				traceID:    w.TraceID,
				suggest:    w.Result.Suggest,
				label:      w.Result.Label,
				isRisky:    w.IsRisky,
				statusCode: w.StatusCode,
			},
		}
	case formatXML:
		var w xmlEvent
		if err := xml.Unmarshal(msg, &w); err != nil {
			return Event{}, fmt.Errorf("%w: the message is not the XML expected", ErrMalformed)
		}
		e = Event{
			ToUserName:   strings.TrimSpace(w.ToUserName),
			FromUserName: strings.TrimSpace(w.FromUserName),
			CreateTime:   parseOptInt(w.CreateTime).v,
			MsgType:      strings.TrimSpace(w.MsgType),
			Event:        strings.TrimSpace(w.Event),
			OpenID:       strings.TrimSpace(w.OpenID),
			AppID:        strings.TrimSpace(w.AppID),
			PluginID:     strings.TrimSpace(w.PluginID),
			mediaCheck: mediaCheck{
				traceID:    strings.TrimSpace(w.TraceID),
				suggest:    w.Suggest,
				label:      parseOptInt(w.Label),
				isRisky:    parseOptInt(w.IsRisky),
				statusCode: parseOptInt(w.StatusCode),
			},
		}
		if e.AppID == "" {
			e.AppID = strings.TrimSpace(w.AppIDLower)
		}
		for _, s := range w.RevokeInfo {
			e.RevokeInfo = append(e.RevokeInfo, splitInts(s)...)
		}
	default:
		return Event{}, fmt.Errorf("%w: the message is neither JSON nor XML", ErrMalformed)
	}
	e.Message = msg
	return e, nil
}

// jsonEvent is the JSON wire form. encoding/json matches names case-insensitively, so AppID also
// takes wxa_media_check's "appid".
type jsonEvent struct {
	ToUserName   string
	FromUserName string
	CreateTime   optInt
	MsgType      string
	Event        string
	OpenID       string  `json:"OpenID"`
	AppID        string  `json:"AppID"`
	RevokeInfo   intList `json:"RevokeInfo"`
	PluginID     string  `json:"PluginID"`
	TraceID      string  `json:"trace_id"`
	Result       struct {
		Suggest string `json:"suggest"`
		Label   optInt `json:"label"`
	} `json:"result"`
	IsRisky    optInt `json:"isrisky"`
	StatusCode optInt `json:"status_code"`
}

// xmlEvent is the XML wire form; XML names are case-sensitive, hence both spellings of the AppID.
// Any root element is accepted (WeChat's is <xml>).
type xmlEvent struct {
	ToUserName   string
	FromUserName string
	CreateTime   string
	MsgType      string
	Event        string
	OpenID       string
	AppID        string
	AppIDLower   string   `xml:"appid"`
	RevokeInfo   []string `xml:"RevokeInfo"`
	PluginID     string
	TraceID      string `xml:"trace_id"`
	Suggest      string `xml:"result>suggest"`
	Label        string `xml:"result>label"`
	IsRisky      string `xml:"isrisky"`
	StatusCode   string `xml:"status_code"`
}

// optInt is a number WeChat may send as a JSON number or as a string (label has been seen as
// both). An absent or unreadable value leaves ok false rather than failing the whole event: the
// event's other fields still decide what to do.
type optInt struct {
	v  int64
	ok bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *optInt) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*o = parseOptInt(s)
		return nil
	}
	*o = parseOptInt(string(b))
	return nil
}

func parseOptInt(s string) optInt {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return optInt{}
	}
	return optInt{v: v, ok: true}
}

// intList is RevokeInfo: documented as a string ("6"), accepted also as a number, a list of
// numbers or strings, or several numbers in one string ("6,19" or "6|19").
type intList []int

// UnmarshalJSON implements json.Unmarshaler.
func (l *intList) UnmarshalJSON(b []byte) error {
	var items []json.RawMessage
	if json.Unmarshal(b, &items) != nil {
		items = []json.RawMessage{b}
	}
	var out []int
	for _, it := range items {
		var s string
		if json.Unmarshal(it, &s) == nil {
			out = append(out, splitInts(s)...)
			continue
		}
		// A number; anything else (an object, a fraction) is not a RevokeInfo value.
		if v, err := strconv.ParseInt(strings.TrimSpace(string(it)), 10, 32); err == nil {
			out = append(out, int(v))
		}
	}
	*l = out
	return nil
}

// splitInts reads the runs of decimal digits in s, skipping any too long for an int32.
func splitInts(s string) []int {
	var out []int
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r < '0' || r > '9' }) {
		if v, err := strconv.ParseInt(f, 10, 32); err == nil {
			out = append(out, int(v))
		}
	}
	return out
}
