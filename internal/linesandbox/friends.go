package linesandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Friends acting: POST /sandbox/friends makes a user follow, block (unfollow) or message an
// account, and sends the account's webhook endpoint the signed event LINE would send, so
// hubline's side of LINE webhooks can be tried without a LINE channel. POST
// /sandbox/friends/redeliver sends an event again, as LINE's redelivery does: same
// webhookEventId, deliveryContext.isRedelivery true. GET /sandbox/friends is the page (English
// and Japanese), ?format=json its data.

// WebhookAccount is one sandbox account whose friends' events are delivered.
type WebhookAccount struct {
	// Label is the account's label in Options.Tokens: profiles are served to its token.
	Label string
	// ChannelSecret signs the webhooks (x-line-signature), as the channel's secret does.
	ChannelSecret string
}

// Webhooks says where friends' events go.
type Webhooks struct {
	// BaseURL is the receiver's address: account n's events go to BaseURL/line/webhook/<n>.
	BaseURL string
	// Accounts are the accounts friends may act on, by number.
	Accounts map[int]WebhookAccount
	// Client sends the webhooks (default: 10 s timeout).
	Client *http.Client
	// Keep is how many sent webhooks are kept for Redeliver and FriendEvents (default 200);
	// hubline chaos redelivers events from thousands of webhooks back.
	Keep int
}

const (
	maxDisplayName  = 100
	maxFriendBody   = 64 << 10
	maxAnswerShown  = 2 << 10
	keptDeliveries  = 200
	webhookTimeout  = 10 * time.Second
	friendUserAgent = "LineBotWebhook/2.0"
)

// FriendEvent is one webhook the sandbox sent (a redelivery is another FriendEvent).
type FriendEvent struct {
	Account        int       `json:"account"`
	Type           string    `json:"type"`
	UserID         string    `json:"userId"`
	WebhookEventID string    `json:"webhookEventId"`
	Redelivery     bool      `json:"isRedelivery"`
	Status         int       `json:"status"`           // the receiver's HTTP status; 0 if it did not answer
	Answer         string    `json:"answer,omitempty"` // the receiver's body (capped), or the error
	At             time.Time `json:"at"`

	event map[string]any // as sent, for redelivery
}

// FriendState is a user as the sandbox's accounts know them.
type FriendState struct {
	Account     int       `json:"account"`
	UserID      string    `json:"userId"`
	DisplayName string    `json:"displayName"`
	Following   bool      `json:"following"`
	Since       time.Time `json:"since"`
}

type rosterKey struct {
	account int
	userID  string
}

type friendsState struct {
	mu     sync.Mutex
	hooks  Webhooks
	roster map[rosterKey]FriendState
	sent   []FriendEvent
	nextID uint64
}

var friendsStates sync.Map // *Server -> *friendsState, beside the Server so this file stands on its own

func (s *Server) roster() *friendsState {
	st, _ := friendsStates.LoadOrStore(s, &friendsState{roster: map[rosterKey]FriendState{}, nextID: 600000000000000000})
	return st.(*friendsState)
}

// UseWebhooks sets where friends' events are delivered (hubline dev points it at its
// starter, with the channel secrets it gave the starter).
func (s *Server) UseWebhooks(h Webhooks) {
	if h.Client == nil {
		h.Client = &http.Client{Timeout: webhookTimeout}
	}
	h.BaseURL = strings.TrimRight(h.BaseURL, "/")
	fs := s.roster()
	fs.mu.Lock()
	fs.hooks = h
	fs.mu.Unlock()
}

func (h Webhooks) kept() int {
	if h.Keep > 0 {
		return h.Keep
	}
	return keptDeliveries
}

// FriendAction is what a friend does: the body of POST /sandbox/friends.
type FriendAction struct {
	Account int `json:"account"`
	// UserID is generated for a follow when empty.
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName"`
	PictureURL  string `json:"pictureUrl"`
	Language    string `json:"language"`
	// Action is follow, unfollow or message.
	Action string `json:"action"`
	Text   string `json:"text"`
}

// errBadAction is an action the sandbox refuses (400); other errors are delivery failures.
type errBadAction struct{ msg string }

func (e errBadAction) Error() string { return e.msg }

// Act applies a friend's action and delivers its webhook. The friendship changes even when
// the delivery fails, as on LINE, where the user acted whatever the bot's server did.
func (s *Server) Act(ctx context.Context, a FriendAction) (FriendEvent, error) {
	fs := s.roster()
	fs.mu.Lock()
	hooks := fs.hooks
	acct, ok := hooks.Accounts[a.Account]
	if !ok {
		fs.mu.Unlock()
		if hooks.BaseURL == "" {
			return FriendEvent{}, errBadAction{"the sandbox has no webhook receiver (hubline dev sets one)"}
		}
		return FriendEvent{}, errBadAction{fmt.Sprintf("account must be one of the sandbox's accounts (%s)", accountList(hooks.Accounts))}
	}
	a.DisplayName = strings.TrimSpace(a.DisplayName)
	a.UserID = strings.TrimSpace(a.UserID)
	key := rosterKey{a.Account, a.UserID}
	known, isKnown := fs.roster[key]
	var err error
	switch {
	case a.Action != "follow" && a.Action != "unfollow" && a.Action != "message":
		err = errBadAction{"action must be follow, unfollow or message"}
	case a.UserID == "" && a.Action == "follow":
		a.UserID = newUserID()
		key.userID = a.UserID
	case !userIDRE.MatchString(a.UserID):
		err = errBadAction{"userId must be U followed by 32 lowercase hex digits (empty for a follow: one is made up)"}
	}
	if err == nil {
		switch a.Action {
		case "follow":
			if utf8.RuneCountInString(a.DisplayName) > maxDisplayName {
				err = errBadAction{fmt.Sprintf("displayName is over %d characters", maxDisplayName)}
			}
		case "unfollow":
			if !isKnown || !known.Following {
				err = errBadAction{"only a friend can block the account: follow first"}
			}
		case "message":
			if !isKnown || !known.Following {
				err = errBadAction{"only a friend can message the account: follow first"}
			} else if t := strings.TrimSpace(a.Text); t == "" || utf16Len(t) > maxTextUTF16 {
				err = errBadAction{"text must be 1 to 5000 characters"}
			}
		}
	}
	if err != nil {
		fs.mu.Unlock()
		return FriendEvent{}, err
	}
	now := s.now()
	ev := map[string]any{
		"type": a.Action, "mode": "active", "timestamp": now.UnixMilli(),
		"source":         map[string]any{"type": "user", "userId": a.UserID},
		"webhookEventId": newULID(now), "deliveryContext": map[string]any{"isRedelivery": false},
	}
	switch a.Action {
	case "follow":
		if a.DisplayName == "" && isKnown {
			a.DisplayName = known.DisplayName
		}
		if a.DisplayName == "" {
			a.DisplayName = "LINE user " + a.UserID[1:5]
		}
		ev["replyToken"] = newReplyToken()
		ev["follow"] = map[string]any{"isUnblocked": isKnown && !known.Following}
		fs.roster[key] = FriendState{Account: a.Account, UserID: a.UserID, DisplayName: a.DisplayName, Following: true, Since: now}
	case "unfollow":
		known.Following, known.Since = false, now
		fs.roster[key] = known
	case "message":
		fs.nextID++
		ev["replyToken"] = newReplyToken()
		ev["message"] = map[string]any{"type": "text", "id": strconv.FormatUint(fs.nextID, 10),
			"quoteToken": "q" + strings.ToLower(newULID(now)), "text": strings.TrimSpace(a.Text)}
	}
	fs.mu.Unlock()

	// The profile endpoint (profile.go) serves friends only, as LINE does.
	switch a.Action {
	case "follow":
		s.AddFriend(acct.Label, Friend{UserID: a.UserID, DisplayName: a.DisplayName, PictureURL: a.PictureURL, Language: a.Language})
	case "unfollow":
		s.BlockFriend(acct.Label, a.UserID)
	}
	return s.deliver(ctx, hooks, a.Account, ev)
}

// Redeliver sends the event with that webhookEventId again, marked as a redelivery.
func (s *Server) Redeliver(ctx context.Context, webhookEventID string) (FriendEvent, error) {
	fs := s.roster()
	fs.mu.Lock()
	hooks := fs.hooks
	var found *FriendEvent
	for i := len(fs.sent) - 1; i >= 0; i-- {
		if fs.sent[i].WebhookEventID == webhookEventID {
			found = &fs.sent[i]
			break
		}
	}
	if found == nil {
		fs.mu.Unlock()
		return FriendEvent{}, errBadAction{fmt.Sprintf("no event with that webhookEventId was sent (the sandbox keeps the last %d)", hooks.kept())}
	}
	ev := cloneEvent(found.event)
	account := found.Account
	fs.mu.Unlock()
	ev["deliveryContext"] = map[string]any{"isRedelivery": true}
	return s.deliver(ctx, hooks, account, ev)
}

func cloneEvent(ev map[string]any) map[string]any {
	b, _ := json.Marshal(ev)
	var out map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // keep timestamps and IDs exactly
	_ = d.Decode(&out)
	return out
}

// deliver signs and POSTs one event to the account's webhook URL and records the outcome.
func (s *Server) deliver(ctx context.Context, hooks Webhooks, account int, ev map[string]any) (FriendEvent, error) {
	acct := hooks.Accounts[account]
	body, err := json.Marshal(map[string]any{"destination": botUserID(acct.Label), "events": []any{ev}})
	if err != nil {
		return FriendEvent{}, err
	}
	src, _ := ev["source"].(map[string]any)
	dc, _ := ev["deliveryContext"].(map[string]any)
	rec := FriendEvent{Account: account, Type: fmt.Sprint(ev["type"]), UserID: fmt.Sprint(src["userId"]),
		WebhookEventID: fmt.Sprint(ev["webhookEventId"]), Redelivery: dc["isRedelivery"] == true, At: s.now(), event: ev}

	mac := hmac.New(sha256.New, []byte(acct.ChannelSecret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hooks.BaseURL+"/line/webhook/"+strconv.Itoa(account), bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("User-Agent", friendUserAgent)
		req.Header.Set("X-Line-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		var resp *http.Response
		if resp, err = hooks.Client.Do(req); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerShown))
			_ = resp.Body.Close()
			rec.Status, rec.Answer = resp.StatusCode, string(b)
		}
	}
	if err != nil {
		rec.Answer = err.Error()
		err = fmt.Errorf("webhook delivery to account %d: %w", account, err)
	}
	fs := s.roster()
	fs.mu.Lock()
	if keep := hooks.kept(); len(fs.sent) >= keep {
		fs.sent = append(fs.sent[:0], fs.sent[len(fs.sent)-keep+1:]...)
	}
	fs.sent = append(fs.sent, rec)
	fs.mu.Unlock()
	return rec, err
}

// FriendEvents lists the webhooks sent, oldest first.
func (s *Server) FriendEvents() []FriendEvent {
	fs := s.roster()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]FriendEvent, len(fs.sent))
	copy(out, fs.sent)
	for i := range out {
		out[i].event = nil
	}
	return out
}

// Friends lists every user who followed an account, blocked ones included, by account.
func (s *Server) Friends() []FriendState {
	fs := s.roster()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]FriendState, 0, len(fs.roster))
	for _, f := range fs.roster {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].Since.Before(out[j].Since)
	})
	return out
}

func accountList(m map[int]WebhookAccount) string {
	ns := make([]int, 0, len(m))
	for n := range m {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func newUserID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "U" + hex.EncodeToString(b)
}

func newReplyToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// botUserID is the account's bot user ID, the webhook's destination: stable per label.
func botUserID(label string) string {
	sum := sha256.Sum256([]byte("hubline-sandbox-bot:" + label))
	return "U" + hex.EncodeToString(sum[:16])
}

// newULID makes a ULID (LINE's webhookEventId format): 48 bits of milliseconds and 80
// random bits, in Crockford's base32.
func newULID(t time.Time) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	// 128 bits as 26 characters of 5 bits, the first holding the top 3 bits.
	out := make([]byte, 26)
	var acc uint64
	bits, j := 0, 25
	for i := 15; i >= 0; i-- {
		acc |= uint64(b[i]) << bits
		bits += 8
		for bits >= 5 && j >= 0 {
			out[j] = alphabet[acc&31]
			acc >>= 5
			bits -= 5
			j--
		}
	}
	if j == 0 {
		out[0] = alphabet[acc&31]
	}
	return string(out)
}

// ---- HTTP ----

func (s *Server) serveFriends(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/sandbox/friends":
		s.handleFriends(w, r)
	case "/sandbox/friends/redeliver":
		s.handleRedeliver(w, r)
	default:
		return false
	}
	return true
}

// crossSite reports a browser request sent from another site's page, which must not make
// the sandbox send webhooks (a page cannot forge Sec-Fetch-Site).
func crossSite(r *http.Request) bool {
	v := r.Header.Get("Sec-Fetch-Site")
	return v != "" && v != "same-origin" && v != "none"
}

// readAction reads a JSON body, or the page's form.
func readAction(w http.ResponseWriter, r *http.Request) (FriendAction, bool, error) {
	var a FriendAction
	r.Body = http.MaxBytesReader(w, r.Body, maxFriendBody)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return a, true, errBadAction{"the form could not be read"}
		}
		n, err := strconv.Atoi(r.PostForm.Get("account"))
		if err != nil {
			return a, true, errBadAction{"account must be a number"}
		}
		f := r.PostForm.Get
		a = FriendAction{Account: n, UserID: f("userId"), DisplayName: f("displayName"), PictureURL: f("pictureUrl"),
			Language: f("language"), Action: f("action"), Text: f("text")}
		return a, true, nil
	}
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(&a); err != nil {
		return a, false, errBadAction{"the body must be a JSON object such as {\"account\":1,\"action\":\"follow\",\"displayName\":\"Aiko\"}"}
	}
	return a, false, nil
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	writeJSON(w, "", status, b)
}

// answer reports an action's outcome: JSON, or back to the page for the form.
func answer(w http.ResponseWriter, form bool, rec FriendEvent, err error) {
	var bad errBadAction
	switch {
	case errors.As(err, &bad):
		writeMessage(w, http.StatusBadRequest, bad.msg)
		return
	case form:
		w.Header().Set("Location", "friends") // relative: dev serves the sandbox under a prefix
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	b, _ := json.Marshal(rec)
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadGateway // the friend acted; the receiver did not answer
	}
	writeJSON(w, "", status, b)
}

func (s *Server) handleFriends(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		if crossSite(r) {
			writeMessage(w, http.StatusForbidden, "cross-site requests are refused")
			return
		}
		a, form, err := readAction(w, r)
		if err != nil {
			answer(w, form, FriendEvent{}, err)
			return
		}
		rec, err := s.Act(r.Context(), a)
		answer(w, form, rec, err)
	case http.MethodGet:
		s.friendsPage(w, r)
	default:
		writeJSON(w, "", http.StatusMethodNotAllowed, bodyMethod)
	}
}

func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, "", http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	if crossSite(r) {
		writeMessage(w, http.StatusForbidden, "cross-site requests are refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFriendBody)
	var in struct {
		WebhookEventID string `json:"webhookEventId"`
	}
	form := strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
	if form {
		_ = r.ParseForm()
		in.WebhookEventID = r.PostForm.Get("webhookEventId")
	} else if json.NewDecoder(r.Body).Decode(&in) != nil {
		writeMessage(w, http.StatusBadRequest, `the body must be {"webhookEventId":"..."}`)
		return
	}
	rec, err := s.Redeliver(r.Context(), in.WebhookEventID)
	if form && err == nil {
		w.Header().Set("Location", "../friends")
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	answer(w, false, rec, err)
}

func (s *Server) friendsPage(w http.ResponseWriter, r *http.Request) {
	fs := s.roster()
	fs.mu.Lock()
	var accts []int
	for n := range fs.hooks.Accounts {
		accts = append(accts, n)
	}
	fs.mu.Unlock()
	sort.Ints(accts)
	friends, events := s.Friends(), s.FriendEvents()
	if r.URL.Query().Get("format") == "json" {
		b, _ := json.Marshal(struct {
			Friends []FriendState `json:"friends"`
			Events  []FriendEvent `json:"events"`
		}{friends, events})
		writeJSON(w, "", http.StatusOK, b)
		return
	}
	for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
		events[i], events[j] = events[j], events[i] // newest first
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = friendsTmpl.Execute(w, struct {
		Accounts []int
		Friends  []FriendState
		Events   []FriendEvent
	}{accts, friends, events})
}

// html/template escapes every value (display names and texts are anyone's).
var friendsTmpl = template.Must(template.New("friends").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LINE sandbox: friends</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f5f5f5}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:1.5rem}
th,td{border:1px solid #ddd;padding:.4rem;text-align:left;font-size:.9rem;vertical-align:top}
form.act{background:#fff;padding:.8rem;margin-bottom:1.5rem;display:grid;gap:.5rem;max-width:40rem}
code{font-size:.85rem}
</style></head><body>
<h1>Friends / 友だち</h1>
<p>Nothing here reached LINE: the sandbox sends hubline the signed webhook LINE would send. / ここでの操作は LINE には届きません。LINE と同じ署名付き Webhook を hubline に送ります。
<a href="../sandbox">Messages / メッセージ</a> · JSON: <a href="friends?format=json">friends?format=json</a></p>
{{if .Accounts}}<form class="act" method="post" action="friends">
<label>Account / アカウント <select name="account">{{range .Accounts}}<option value="{{.}}">{{.}}</option>{{end}}</select></label>
<label>Action / 操作 <select name="action"><option value="follow">follow: add as a friend / 友だち追加</option><option value="unfollow">unfollow: block / ブロック</option><option value="message">message: send a text / メッセージ送信</option></select></label>
<label>Display name / 表示名 <input name="displayName" maxlength="100" value="Aiko"></label>
<label>User ID / ユーザー ID <input name="userId" size="40" placeholder="empty for a follow: a new user / 友だち追加なら空欄で新規ユーザー"></label>
<label>Text / テキスト <input name="text" maxlength="5000" placeholder="for message / メッセージ用"></label>
<button>Send webhook / Webhook を送信</button>
</form>{{else}}<p>No webhook receiver is set: hubline dev sets one. / Webhook の送信先が未設定です（hubline dev が設定します）。</p>{{end}}
<h2>Friends / 友だち一覧</h2>
<table><tr><th>Account</th><th>User ID</th><th>Display name / 表示名</th><th>Status / 状態</th><th>Since</th></tr>
{{range .Friends}}<tr><td>{{.Account}}</td><td><code>{{.UserID}}</code></td><td>{{.DisplayName}}</td><td>{{if .Following}}following / 友だち{{else}}blocked / ブロック中{{end}}</td><td>{{.Since.Format "2006-01-02 15:04:05"}}</td></tr>
{{else}}<tr><td colspan="5">No friends yet: add one above. / まだ友だちはいません。上で追加してください。</td></tr>{{end}}
</table>
<h2>Webhooks sent / 送信した Webhook</h2>
<table><tr><th>Time</th><th>Account</th><th>Event</th><th>User ID</th><th>webhookEventId</th><th>hubline answered / 応答</th><th></th></tr>
{{range .Events}}<tr><td>{{.At.Format "2006-01-02 15:04:05.000"}}</td><td>{{.Account}}</td><td>{{.Type}}{{if .Redelivery}} (redelivery / 再送){{end}}</td><td><code>{{.UserID}}</code></td><td><code>{{.WebhookEventID}}</code></td><td>{{if .Status}}{{.Status}}{{else}}no answer / 応答なし{{end}} <code>{{.Answer}}</code></td>
<td><form method="post" action="friends/redeliver"><input type="hidden" name="webhookEventId" value="{{.WebhookEventID}}"><button>Redeliver / 再送</button></form></td></tr>
{{else}}<tr><td colspan="7">Nothing sent yet. / まだ送信していません。</td></tr>{{end}}
</table></body></html>
`))
