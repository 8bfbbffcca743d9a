package line

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/linesandbox"
)

func TestValidRichMenuID(t *testing.T) {
	for id, want := range map[string]bool{
		"richmenu-88c05ef6921ae53f8b58a25f3a65faf7": true,
		"": false,
		"richmenu-88C05EF6921AE53F8B58A25F3A65FAF7":  false,
		"richmenu-88c05ef6921ae53f8b58a25f3a65faf":   false,
		"richmenu-88c05ef6921ae53f8b58a25f3a65faf70": false,
		"richmenu-alias-members":                     false,
		"88c05ef6921ae53f8b58a25f3a65faf7":           false,
		"richmenu-88c05ef6921ae53f8b58a25f3a65faf7/": false,
	} {
		if got := ValidRichMenuID(id); got != want {
			t.Errorf("ValidRichMenuID(%q) = %v", id, got)
		}
	}
}

func TestRichMenuWireFormat(t *testing.T) {
	srv, reqs, mu := recorder(t, 200, map[string]string{"X-Line-Request-Id": "req-9"}, `{}`)
	c := newTestClient(t, srv.URL)
	const menu = "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"
	if res, err := c.LinkRichMenu(context.Background(), userA, menu); err != nil || res.RequestID != "req-9" {
		t.Fatalf("link: %+v %v", res, err)
	}
	if res, err := c.UnlinkRichMenu(context.Background(), userA); err != nil || res.RequestID != "req-9" {
		t.Fatalf("unlink: %+v %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*reqs) != 2 {
		t.Fatalf("requests: %d", len(*reqs))
	}
	for i, want := range []struct{ method, path string }{
		{"POST", "/v2/bot/user/" + userA + "/richmenu/" + menu},
		{"DELETE", "/v2/bot/user/" + userA + "/richmenu"},
	} {
		got := (*reqs)[i]
		if got.method != want.method || got.path != want.path || got.header.Get("Authorization") != "Bearer test-token" {
			t.Errorf("request %d: %s %s (auth %q), want %s %s", i, got.method, got.path, got.header.Get("Authorization"), want.method, want.path)
		}
		if got.header.Get("X-Line-Retry-Key") != "" {
			t.Errorf("request %d carries a retry key: LINE answers 400 to one outside the send endpoints", i)
		}
	}
}

func TestRichMenuAgainstTheSandbox(t *testing.T) {
	box := linesandbox.New(linesandbox.Options{Tokens: map[string]string{"test-token": "account 1"}})
	srv := httptest.NewServer(box)
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	menu := box.CreateRichMenu("account 1", "members")

	if _, err := c.LinkRichMenu(ctx, userA, menu); err != nil || box.LinkedRichMenu("account 1", userA) != menu {
		t.Fatalf("link: %v, linked %q", err, box.LinkedRichMenu("account 1", userA))
	}
	if _, err := c.UnlinkRichMenu(ctx, userA); err != nil || box.LinkedRichMenu("account 1", userA) != "" {
		t.Fatalf("unlink: %v", err)
	}
	_, err := c.LinkRichMenu(ctx, userA, "richmenu-00000000000000000000000000000000")
	var ae *APIError
	if !errors.Is(err, ErrUnknownRichMenu) || !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Kind != KindInvalid {
		t.Fatalf("unknown menu: %v", err)
	}
	for _, tc := range []struct {
		status int
		kind   ErrorKind
	}{{500, KindRetryable}, {429, KindRateLimited}, {401, KindAuth}, {400, KindInvalid}} {
		box.FailNextRichMenu(tc.status, 1)
		_, err := c.LinkRichMenu(ctx, userA, menu)
		if !errors.As(err, &ae) || ae.StatusCode != tc.status || ae.Kind != tc.kind || errors.Is(err, ErrUnknownRichMenu) {
			t.Errorf("HTTP %d: %v", tc.status, err)
		}
	}
	box.FailNextRichMenu(503, 1)
	if _, err := c.UnlinkRichMenu(ctx, userA); !errors.As(err, &ae) || ae.StatusCode != 503 || !ae.Retryable() {
		t.Errorf("unlink 503: %v", err)
	}
}

func TestRichMenuRefusesBadIDsBeforeSending(t *testing.T) {
	srv, reqs, mu := recorder(t, 200, nil, `{}`)
	c := newTestClient(t, srv.URL)
	for _, tc := range []struct{ user, menu string }{
		{"U0123/../../message/push", "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"},
		{userA, "richmenu-../../x"},
		{userA, ""},
	} {
		_, err := c.LinkRichMenu(context.Background(), tc.user, tc.menu)
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 0 || ae.Kind != KindInvalid {
			t.Errorf("link(%q, %q) = %v, want a local refusal", tc.user, tc.menu, err)
		}
	}
	if _, err := c.UnlinkRichMenu(context.Background(), "nope"); err == nil {
		t.Error("unlink of an invalid user ID was sent")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*reqs) != 0 {
		t.Fatalf("%d requests reached LINE", len(*reqs))
	}
}

// A transport error's text would name the URL, and with it the user ID.
func TestRichMenuTransportErrorOmitsTheUserID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "test-token", &http.Client{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.LinkRichMenu(context.Background(), userA, "richmenu-88c05ef6921ae53f8b58a25f3a65faf7")
	var ae *APIError
	if err == nil || errors.As(err, &ae) || strings.Contains(err.Error(), userA) || strings.Contains(err.Error(), "/v2/bot/user") {
		t.Fatalf("transport error: %v", err)
	}
	_, err = c.UnlinkRichMenu(context.Background(), userA)
	if err == nil || strings.Contains(err.Error(), userA) {
		t.Fatalf("unlink transport error: %v", err)
	}
}
