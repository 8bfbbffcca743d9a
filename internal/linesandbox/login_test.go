package linesandbox

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// authorize walks the stand-in's consent form: GET shows it, POST answers it with a redirect.
func authorize(t *testing.T, base string, q url.Values, form url.Values) (*http.Response, string) {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(base + "/oauth2/v2.1/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || form == nil {
		return res, string(page)
	}
	for k := range q {
		form.Set(k, q.Get(k))
	}
	res, err = noFollow.PostForm(base+"/oauth2/v2.1/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res, string(page)
}

func TestLoginStandIn(t *testing.T) {
	s := New(Options{Tokens: map[string]string{"tok-1": "account 1"}})
	s.AddLoginChannel("1650000001", "login-secret")
	s.AddLoginUser(LoginUser{UserID: "U0123456789abcdef0123456789abcdef", DisplayName: "<Aiko>"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	q := url.Values{"response_type": {"code"}, "client_id": {"1650000001"}, "redirect_uri": {"https://hubline.example/line/login/callback"},
		"state": {"st-1"}, "scope": {"openid profile"}, "nonce": {"n-1"}}

	res, page := authorize(t, srv.URL, q, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "&lt;Aiko&gt;") || strings.Contains(page, "<Aiko>") {
		t.Fatalf("consent page: %d, names escaped? %q", res.StatusCode, page)
	}
	for name, bad := range map[string]url.Values{
		"unknown client":  {"client_id": {"999"}},
		"no openid":       {"scope": {"profile"}},
		"relative return": {"redirect_uri": {"/cb"}},
		"no state":        {"state": {""}},
	} {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		for k, v := range bad {
			q2[k] = v
		}
		if res, _ := authorize(t, srv.URL, q2, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, res.StatusCode)
		}
	}

	res, _ = authorize(t, srv.URL, q, url.Values{"decision": {"cancel"}})
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-1" {
		t.Fatalf("cancel: %d %s", res.StatusCode, loc)
	}

	res, _ = authorize(t, srv.URL, q, url.Values{"decision": {"approve"}, "userId": {"U0123456789abcdef0123456789abcdef"}})
	loc, _ = url.Parse(res.Header.Get("Location"))
	code := loc.Query().Get("code")
	if res.StatusCode != http.StatusFound || code == "" || loc.Query().Get("state") != "st-1" || loc.Host != "hubline.example" {
		t.Fatalf("approve: %d %s", res.StatusCode, loc)
	}
	exchange := func(f url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {q.Get("redirect_uri")},
			"client_id": {"1650000001"}, "client_secret": {"login-secret"}}
		for k, v := range f {
			form[k] = v
		}
		res, err := http.PostForm(srv.URL+"/oauth2/v2.1/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if st, out := exchange(url.Values{"client_secret": {"wrong"}}); st != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", st, out)
	}
	st, out := exchange(url.Values{"redirect_uri": {"https://other.example/cb"}})
	if st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("another redirect_uri: %d %v", st, out)
	}
	if st, out := exchange(nil); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("a code tried once with a wrong redirect_uri must be spent: %d %v", st, out)
	}

	res, _ = authorize(t, srv.URL, q, url.Values{"decision": {"approve"}, "userId": {"U0123456789abcdef0123456789abcdef"}})
	loc, _ = url.Parse(res.Header.Get("Location"))
	code = loc.Query().Get("code")
	st, out = exchange(nil)
	if st != http.StatusOK {
		t.Fatalf("exchange: %d %v", st, out)
	}
	parts := strings.Split(out["id_token"].(string), ".")
	claimsJSON, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	_ = json.Unmarshal(claimsJSON, &claims)
	if claims["sub"] != "U0123456789abcdef0123456789abcdef" || claims["aud"] != "1650000001" || claims["nonce"] != "n-1" ||
		claims["iss"] != "https://access.line.me" || claims["name"] != "<Aiko>" {
		t.Errorf("claims: %v", claims)
	}
	if out["id_token"] != SignIDToken(claims, "login-secret") {
		t.Error("the ID token is not HS256 with the channel secret")
	}
	if st, _ := exchange(nil); st != http.StatusBadRequest {
		t.Errorf("a code used twice: %d, want 400", st)
	}
	if s.IDTokensIssued() != 1 {
		t.Errorf("IDTokensIssued = %d, want 1", s.IDTokensIssued())
	}
}

func TestBotInfo(t *testing.T) {
	s := New(Options{Tokens: map[string]string{"tok-1": "account 1", "tok-2": "account 2"}})
	s.SetBasicID("tok-2", "@hubline2")
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func(tok string) (int, map[string]string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/bot/info", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if st, _ := get("nope"); st != http.StatusUnauthorized {
		t.Errorf("unknown token: %d", st)
	}
	st, one := get("tok-1")
	_, again := get("tok-1")
	if st != http.StatusOK || !strings.HasPrefix(one["basicId"], "@") || one["basicId"] != again["basicId"] || one["displayName"] != "account 1" {
		t.Errorf("bot info: %d %v %v", st, one, again)
	}
	if _, two := get("tok-2"); two["basicId"] != "@hubline2" {
		t.Errorf("SetBasicID: %v", two)
	}
}
