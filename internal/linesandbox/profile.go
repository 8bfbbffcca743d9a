package linesandbox

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sync"
)

// Friends and their profiles: GET /v2/bot/profile/{userId} answers a friend's profile and
// 404 for anyone else (never added, or blocked the account), as LINE does.

var profilePath = regexp.MustCompile(`^/v2/bot/profile/([^/]+)$`)

// Friend is a LINE user who added an account as a friend.
type Friend struct {
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName"`
	PictureURL  string `json:"pictureUrl,omitempty"`
	Language    string `json:"language,omitempty"`
}

type friendKey struct{ account, userID string }

type friends struct {
	mu sync.Mutex
	m  map[friendKey]Friend
}

// friendStates holds each Server's friends (*Server -> *friends), beside the Server so this
// file stands on its own.
var friendStates sync.Map

func (s *Server) friends() *friends {
	f, _ := friendStates.LoadOrStore(s, &friends{m: map[friendKey]Friend{}})
	return f.(*friends)
}

// AddFriend makes f a friend of account (a label of Options.Tokens, "default" without
// tokens): its profile is served from now on.
func (s *Server) AddFriend(account string, f Friend) {
	fs := s.friends()
	fs.mu.Lock()
	fs.m[friendKey{account, f.UserID}] = f
	fs.mu.Unlock()
}

// BlockFriend makes the user no longer a friend of account: its profile answers 404.
func (s *Server) BlockFriend(account, userID string) {
	fs := s.friends()
	fs.mu.Lock()
	delete(fs.m, friendKey{account, userID})
	fs.mu.Unlock()
}

// IsFriend reports whether the user is a friend of account.
func (s *Server) IsFriend(account, userID string) bool {
	fs := s.friends()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, ok := fs.m[friendKey{account, userID}]
	return ok
}

func (s *Server) serveProfile(w http.ResponseWriter, r *http.Request) bool {
	m := profilePath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return false
	}
	id := newRequestID()
	if r.Method != http.MethodGet {
		writeJSON(w, id, http.StatusMethodNotAllowed, bodyMethod)
		return true
	}
	_, account, ok := s.authenticate(r)
	if !ok {
		writeJSON(w, id, http.StatusUnauthorized, bodyAuth)
		return true
	}
	fs := s.friends()
	fs.mu.Lock()
	f, ok := fs.m[friendKey{account, m[1]}]
	fs.mu.Unlock()
	if !ok {
		writeJSON(w, id, http.StatusNotFound, bodyNotFound)
		return true
	}
	body, _ := json.Marshal(f)
	writeJSON(w, id, http.StatusOK, body)
	return true
}
