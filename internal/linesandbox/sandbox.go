// Package linesandbox is a local fake of the LINE Messaging API push and
// multicast endpoints. It validates and rate-limits like LINE, honours retry
// keys, records what it "delivered" and shows it at /sandbox, so hubline can
// run and be tested without a LINE channel.
package linesandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
)

// Options configures a Server.
type Options struct {
	// Tokens maps bearer token → account label. Empty accepts any non-empty
	// token (labelled "default").
	Tokens map[string]string
	// PushRate is push requests per second per token, enforced over any
	// trailing second (no burst above it): 0 → 2000, <0 unlimited.
	PushRate int
	// MulticastRate is multicast requests per second per token, likewise: 0 → 200, <0 unlimited.
	MulticastRate int
	// MonthlyLimit is messages per token per "month" (the server's lifetime);
	// a multicast message counts once per recipient. 0 = unlimited.
	MonthlyLimit int
	// MaxRecords bounds the stored Delivery list (oldest dropped first) so a
	// long dev session or benchmark cannot grow memory without end; counters
	// stay exact. 0 → 100000.
	MaxRecords int
}

// Delivery is one accepted push or multicast request.
type Delivery struct {
	Account          string            `json:"account"`
	To               string            `json:"to"` // multicast: recipients joined with ","
	RetryKey         string            `json:"retryKey,omitempty"`
	RequestID        string            `json:"requestId"`
	Messages         []json.RawMessage `json:"messages"`
	AggregationUnits []string          `json:"aggregationUnits,omitempty"`
	Multicast        bool              `json:"multicast"`
	At               time.Time         `json:"at"`

	recipients []string // multicast recipients, for DeliveredTo
}

const (
	retryKeyTTL     = 24 * time.Hour
	maxBodyBytes    = 2 << 20
	maxMessages     = 5
	maxMulticastTo  = 500
	maxTextUTF16    = 5000
	listedOnPage    = 200
	defaultPushRate = 2000
	defaultMultRate = 200
	defaultRecords  = 100000
)

var (
	userIDRE = regexp.MustCompile(`^U[0-9a-f]{32}$`)
	unitRE   = regexp.MustCompile(`^[a-zA-Z0-9_]{1,30}$`)

	knownTypes = map[string]bool{"text": true, "sticker": true, "image": true, "video": true, "audio": true,
		"location": true, "imagemap": true, "template": true, "flex": true, "textV2": true, "coupon": true}

	// Constant bodies, allocated once.
	bodyAuth         = []byte(`{"message":"Authentication failed. Confirm that the access token in the authorization header is valid."}`)
	bodyTooMany      = []byte(`{"message":"Too Many Requests"}`)
	bodyMonthly      = []byte(`{"message":"You have reached your monthly limit."}`)
	bodyBadRetryKey  = []byte(`{"message":"The value for the 'X-Line-Retry-Key' header is invalid"}`)
	bodyBadJSON      = []byte(`{"message":"The request body could not be parsed as JSON"}`)
	bodyTooLarge     = []byte(`{"message":"Request Entity Too Large"}`)
	bodyNotFound     = []byte(`{"message":"Not found"}`)
	bodyMethod       = []byte(`{"message":"Method Not Allowed"}`)
	bodyEmptyObject  = []byte(`{}`)
	bodyDuplicateMul = []byte(`{"message":"The retry key is already accepted"}`)
)

type limitKey struct {
	token     string
	multicast bool
}

// window is a sliding-window limiter: it admits at most rate requests within
// any trailing second, as LINE enforces its per-second limits (a token bucket
// that starts full would let about twice the rate through in the first
// second). It keeps the times of the last rate acceptances in a ring and
// accepts a request only if the oldest of them is at least a second old: O(1)
// per request, rate durations of memory.
type window struct {
	base  time.Time       // first request; times are offsets from it, keeping the monotonic clock
	times []time.Duration // ring of the last len(times) acceptance offsets
	next  int             // slot the next acceptance overwrites: the oldest once the ring is full
	n     int             // slots in use
}

func (w *window) take(now time.Time, rate int) bool {
	if w.times == nil {
		w.base = now
		w.times = make([]time.Duration, rate)
	}
	t := now.Sub(w.base)
	if w.n == len(w.times) {
		if t-w.times[w.next] < time.Second {
			return false
		}
	} else {
		w.n++
	}
	w.times[w.next] = t
	w.next++
	if w.next == len(w.times) {
		w.next = 0
	}
	return true
}

type retryID struct{ token, key string }

type retryEntry struct {
	requestID string
	sent      []sentMessage // push only
	at        time.Time
}

type sentMessage struct {
	ID         string `json:"id"`
	QuoteToken string `json:"quoteToken,omitempty"`
}

// Server is the fake API; it implements http.Handler and is safe for
// concurrent use. One mutex guards all state: requests do their parsing
// outside it and hold it only for the bookkeeping.
type Server struct {
	opts Options
	now  func() time.Time // replaced in tests

	mu             sync.Mutex
	windows        map[limitKey]*window
	usage          map[string]int
	retry          map[retryID]retryEntry
	lastSweep      time.Time
	deliveries     []Delivery
	deliveryCount  int
	deliveredTo    map[string]int
	duplicates     int
	rateLimited    int
	requests       int
	failStatus     int
	failN          int
	monthlyReached bool
	nextID         uint64

	richOnce  sync.Once
	richState *richMenus // rich menus and per-user links (richmenu.go)

	loginOnce  sync.Once
	loginState *loginState // LINE Login stand-in and bot info (login.go)
}

// New returns a sandbox server.
func New(o Options) *Server {
	if o.PushRate == 0 {
		o.PushRate = defaultPushRate
	}
	if o.MulticastRate == 0 {
		o.MulticastRate = defaultMultRate
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = defaultRecords
	}
	return &Server{
		opts:        o,
		now:         time.Now,
		windows:     map[limitKey]*window{},
		usage:       map[string]int{},
		retry:       map[retryID]retryEntry{},
		deliveredTo: map[string]int{},
		nextID:      500000000000000000, // 18 digits like real message IDs
	}
}

// FailNext makes the next n push/multicast requests (after authentication)
// answer status with a LINE-shaped error body, delivering nothing.
func (s *Server) FailNext(status, n int) {
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError // WriteHeader panics otherwise
	}
	s.mu.Lock()
	s.failStatus, s.failN = status, n
	s.mu.Unlock()
}

// SetMonthlyLimitReached forces (or stops forcing) the monthly-limit 429.
func (s *Server) SetMonthlyLimitReached(v bool) {
	s.mu.Lock()
	s.monthlyReached = v
	s.mu.Unlock()
}

// Deliveries returns copies of the stored deliveries, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		out[i] = copyDelivery(d)
	}
	return out
}

func copyDelivery(d Delivery) Delivery {
	c := d
	c.Messages = make([]json.RawMessage, len(d.Messages))
	for i, m := range d.Messages {
		c.Messages[i] = append(json.RawMessage(nil), m...)
	}
	c.AggregationUnits = append([]string(nil), d.AggregationUnits...)
	c.recipients = nil
	return c
}

// DeliveryCount is the number of accepted requests.
func (s *Server) DeliveryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveryCount
}

// DeliveredTo counts accepted messages to a user, across push and multicast.
func (s *Server) DeliveredTo(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveredTo[userID]
}

// Duplicates is the number of 409 (retry key already accepted) answers.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}

// RateLimited is the number of 429 answers (rate, monthly or FailNext).
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// Requests is the number of push and multicast requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v2/bot/message/push":
		s.handleSend(w, r, false)
	case "/v2/bot/message/multicast":
		s.handleSend(w, r, true)
	case "/v2/bot/message/quota":
		s.handleQuota(w, r, false)
	case "/v2/bot/message/quota/consumption":
		s.handleQuota(w, r, true)
	case "/sandbox/messages":
		s.handleList(w, r)
	case "/sandbox", "/sandbox/":
		s.handlePage(w, r)
	default:
		if !s.serveRichMenu(w, r) && !s.serveLogin(w, r) && !s.serveProfile(w, r) && !s.serveFriends(w, r) {
			writeJSON(w, newRequestID(), http.StatusNotFound, bodyNotFound)
		}
	}
}

func newRequestID() string { return uuid.NewString() }

func writeJSON(w http.ResponseWriter, requestID string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if requestID != "" {
		h.Set("X-Line-Request-Id", requestID)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// authenticate returns the account label for the request's bearer token.
func (s *Server) authenticate(r *http.Request) (token, account string, ok bool) {
	token, ok = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return "", "", false
	}
	if len(s.opts.Tokens) == 0 {
		return token, "default", true
	}
	account, ok = s.opts.Tokens[token]
	return token, account, ok
}

// detail is one validation problem, reported like LINE does.
type detail struct {
	Message  string `json:"message"`
	Property string `json:"property"`
}

type parsedSend struct {
	to       []string
	messages []json.RawMessage
	units    []string
	details  []detail
	badJSON  bool
	tooLarge bool
}

func parseSend(r *http.Request, multicast bool) parsedSend {
	var p parsedSend
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		p.badJSON = true
		return p
	}
	if len(data) > maxBodyBytes {
		p.tooLarge = true
		return p
	}
	var body struct {
		To                     json.RawMessage   `json:"to"`
		Messages               []json.RawMessage `json:"messages"`
		NotificationDisabled   *bool             `json:"notificationDisabled"`
		CustomAggregationUnits []string          `json:"customAggregationUnits"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		p.badJSON = true
		return p
	}

	if multicast {
		if json.Unmarshal(body.To, &p.to) != nil || p.to == nil {
			p.details = append(p.details, detail{"must be specified", "to"})
		} else if len(p.to) < 1 || len(p.to) > maxMulticastTo {
			p.details = append(p.details, detail{"Size must be between 1 and 500", "to"})
		} else {
			for i, id := range p.to {
				if !userIDRE.MatchString(id) {
					p.details = append(p.details, detail{"Invalid user ID", "to[" + strconv.Itoa(i) + "]"})
				}
			}
		}
	} else {
		var to string
		if json.Unmarshal(body.To, &to) != nil || !userIDRE.MatchString(to) {
			p.details = append(p.details, detail{"Invalid user ID", "to"})
		}
		p.to = []string{to}
	}

	if len(body.Messages) < 1 || len(body.Messages) > maxMessages {
		p.details = append(p.details, detail{"Size must be between 1 and 5", "messages"})
	}
	for i, m := range body.Messages {
		p.details = appendMessageDetails(p.details, i, m)
	}
	p.messages = body.Messages

	switch n := len(body.CustomAggregationUnits); {
	case n > 1:
		p.details = append(p.details, detail{"Size must be between 0 and 1", "customAggregationUnits"})
	case n == 1 && !unitRE.MatchString(body.CustomAggregationUnits[0]):
		p.details = append(p.details, detail{"Invalid aggregation unit name", "customAggregationUnits[0]"})
	}
	p.units = body.CustomAggregationUnits
	return p
}

func appendMessageDetails(ds []detail, i int, m json.RawMessage) []detail {
	prefix := "messages[" + strconv.Itoa(i) + "]"
	var msg struct {
		Type *string `json:"type"`
		Text *string `json:"text"`
	}
	if json.Unmarshal(m, &msg) != nil {
		return append(ds, detail{"must be an object", prefix})
	}
	switch {
	case msg.Type == nil:
		return append(ds, detail{"must be specified", prefix + ".type"})
	case !knownTypes[*msg.Type]:
		return append(ds, detail{"Invalid message type", prefix + ".type"})
	case *msg.Type == "text" && (msg.Text == nil || *msg.Text == ""):
		return append(ds, detail{"must be specified", prefix + ".text"})
	case *msg.Type == "text" && utf16Len(*msg.Text) > maxTextUTF16:
		return append(ds, detail{"Length must be between 0 and 5000", prefix + ".text"})
	}
	return ds
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func validationBody(ds []detail) []byte {
	b, _ := json.Marshal(struct {
		Message string   `json:"message"`
		Details []detail `json:"details"`
	}{"The request body has " + strconv.Itoa(len(ds)) + " error(s)", ds})
	return b
}

func failBody(status int) []byte {
	switch {
	case status == http.StatusTooManyRequests:
		return bodyTooMany
	case status == http.StatusUnauthorized:
		return bodyAuth
	case status >= 500:
		return []byte(`{"message":"An error occurred in the server"}`)
	}
	text := http.StatusText(status)
	if text == "" {
		text = "Error"
	}
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{text})
	return b
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request, multicast bool) {
	reqID := newRequestID()
	if r.Method != http.MethodPost {
		writeJSON(w, reqID, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	token, account, ok := s.authenticate(r)
	if !ok {
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		writeJSON(w, reqID, http.StatusUnauthorized, bodyAuth)
		return
	}

	// Parse and validate before taking the lock.
	p := parseSend(r, multicast)
	retryKey, hasKey := "", false
	if v, present := r.Header["X-Line-Retry-Key"]; present {
		hasKey = true
		retryKey = v[0]
	}
	badKey := hasKey && !validRetryKey(retryKey)

	res := s.decide(reqID, token, account, retryKey, hasKey && !badKey, multicast, &p, badKey)
	if res.acceptedID != "" {
		w.Header().Set("X-Line-Accepted-Request-Id", res.acceptedID)
	}
	writeJSON(w, reqID, res.status, res.body)
}

type outcome struct {
	status     int
	body       []byte
	acceptedID string // set on 409: the request that used the retry key first
}

// decide applies, under the lock and in LINE's order, the checks that depend
// on shared state, and records the outcome.
func (s *Server) decide(reqID, token, account, retryKey string, useKey, multicast bool, p *parsedSend, badKey bool) outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	now := s.now()

	if s.failN > 0 {
		s.failN--
		if s.failStatus == http.StatusTooManyRequests {
			s.rateLimited++
		}
		return outcome{status: s.failStatus, body: failBody(s.failStatus)}
	}

	rate := s.opts.PushRate
	if multicast {
		rate = s.opts.MulticastRate
	}
	if rate > 0 {
		k := limitKey{token, multicast}
		lw := s.windows[k]
		if lw == nil {
			lw = &window{}
			s.windows[k] = lw
		}
		if !lw.take(now, rate) {
			s.rateLimited++
			return outcome{status: http.StatusTooManyRequests, body: bodyTooMany}
		}
	}

	switch {
	case p.tooLarge:
		return outcome{status: http.StatusRequestEntityTooLarge, body: bodyTooLarge}
	case p.badJSON:
		return outcome{status: http.StatusBadRequest, body: bodyBadJSON}
	case len(p.details) > 0:
		return outcome{status: http.StatusBadRequest, body: validationBody(p.details)}
	case badKey:
		return outcome{status: http.StatusBadRequest, body: bodyBadRetryKey}
	}

	rid := retryID{token, retryKey}
	if useKey {
		s.sweepRetryKeys(now)
		if e, ok := s.retry[rid]; ok && now.Sub(e.at) < retryKeyTTL {
			s.duplicates++
			dup := bodyDuplicateMul
			if !multicast {
				dup = sentBody(e.sent, "The retry key is already accepted")
			}
			return outcome{status: http.StatusConflict, body: dup, acceptedID: e.requestID}
		}
	}

	cost := len(p.messages) * len(p.to)
	if s.monthlyReached || (s.opts.MonthlyLimit > 0 && s.usage[token]+cost > s.opts.MonthlyLimit) {
		s.rateLimited++
		return outcome{status: http.StatusTooManyRequests, body: bodyMonthly}
	}
	s.usage[token] += cost

	var sent []sentMessage
	if !multicast {
		sent = make([]sentMessage, len(p.messages))
		for i := range sent {
			s.nextID++
			id := strconv.FormatUint(s.nextID, 10)
			sent[i] = sentMessage{ID: id, QuoteToken: "q" + strconv.FormatUint(s.nextID*2654435761, 36)}
		}
	}
	if useKey {
		s.retry[rid] = retryEntry{requestID: reqID, sent: sent, at: now}
	}
	s.record(Delivery{
		Account:          account,
		To:               strings.Join(p.to, ","),
		RetryKey:         retryKey,
		RequestID:        reqID,
		Messages:         p.messages,
		AggregationUnits: p.units,
		Multicast:        multicast,
		At:               now,
		recipients:       p.to,
	})
	if multicast {
		// LINE answers multicast with an empty object.
		return outcome{status: http.StatusOK, body: bodyEmptyObject}
	}
	return outcome{status: http.StatusOK, body: sentBody(sent, "")}
}

func sentBody(sent []sentMessage, message string) []byte {
	b, _ := json.Marshal(struct {
		Message      string        `json:"message,omitempty"`
		SentMessages []sentMessage `json:"sentMessages"`
	}{message, sent})
	return b
}

func (s *Server) record(d Delivery) {
	s.deliveryCount++
	for _, to := range d.recipients {
		s.deliveredTo[to] += len(d.Messages)
	}
	if len(s.deliveries) >= s.opts.MaxRecords {
		// Drop the oldest half at once so trimming is amortised O(1).
		n := copy(s.deliveries, s.deliveries[len(s.deliveries)/2:])
		clear(s.deliveries[n:])
		s.deliveries = s.deliveries[:n]
	}
	s.deliveries = append(s.deliveries, d)
}

// sweepRetryKeys drops expired keys at most once a minute.
func (s *Server) sweepRetryKeys(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for k, e := range s.retry {
		if now.Sub(e.at) >= retryKeyTTL {
			delete(s.retry, k)
		}
	}
}

func validRetryKey(k string) bool {
	if len(k) != 36 {
		return false
	}
	_, err := uuid.Parse(k)
	return err == nil
}

func (s *Server) handleQuota(w http.ResponseWriter, r *http.Request, consumption bool) {
	reqID := newRequestID()
	if r.Method != http.MethodGet {
		writeJSON(w, reqID, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	token, _, ok := s.authenticate(r)
	if !ok {
		writeJSON(w, reqID, http.StatusUnauthorized, bodyAuth)
		return
	}
	s.mu.Lock()
	used := s.usage[token]
	s.mu.Unlock()
	var body []byte
	switch {
	case consumption:
		body = []byte(`{"totalUsage":` + strconv.Itoa(used) + `}`)
	case s.opts.MonthlyLimit > 0:
		body = []byte(`{"type":"limited","value":` + strconv.Itoa(s.opts.MonthlyLimit) + `}`)
	default:
		body = []byte(`{"type":"none"}`)
	}
	writeJSON(w, reqID, http.StatusOK, body)
}
