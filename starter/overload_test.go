package starter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestAdmitAnswers429PastTheBound: requests beyond MaxInFlight are answered 429 overloaded
// with Retry-After at once, and a freed slot admits again.
func TestAdmitAnswers429PastTheBound(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{inFlight: make(chan struct{}, 2)}
	entered, release := make(chan struct{}), make(chan struct{})
	e := gin.New()
	e.POST("/a", s.admit, func(c *gin.Context) {
		entered <- struct{}{}
		<-release
		c.Status(http.StatusOK)
	})
	serve := func() chan *httptest.ResponseRecorder {
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/a", nil))
			done <- w
		}()
		return done
	}
	held := []chan *httptest.ResponseRecorder{serve(), serve()}
	<-entered
	<-entered
	w := <-serve()
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("third request: %d Retry-After %q, want 429 with Retry-After 1", w.Code, w.Header().Get("Retry-After"))
	}
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != "overloaded" {
		t.Fatalf("third request's body %s (%v), want code overloaded", w.Body, err)
	}
	close(release)
	for _, h := range held {
		if w := <-h; w.Code != http.StatusOK {
			t.Fatalf("admitted request: %d", w.Code)
		}
	}
	go func() { <-entered }()
	if w := <-serve(); w.Code != http.StatusOK {
		t.Fatalf("after the slots were freed: %d, want 200", w.Code)
	}
}

// TestTemporalFailedTellsOverloadFromOutage: a slow or exhausted Temporal is 429 overloaded
// (retry soon), an unreachable one 503 temporal_unavailable.
func TestTemporalFailedTellsOverloadFromOutage(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{}
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("start: %w", context.DeadlineExceeded), http.StatusTooManyRequests, "overloaded"},
		{status.Error(codes.DeadlineExceeded, "deadline"), http.StatusTooManyRequests, "overloaded"},
		{serviceerror.NewResourceExhausted(0, "busy"), http.StatusTooManyRequests, "overloaded"},
		{status.Error(codes.Unavailable, "connection refused"), http.StatusServiceUnavailable, "temporal_unavailable"},
		{serviceerror.NewUnavailable("down"), http.StatusServiceUnavailable, "temporal_unavailable"},
		{errors.New("something else"), http.StatusServiceUnavailable, "temporal_unavailable"},
	} {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		s.temporalFailed(c, tc.err, "could not start")
		var body errorBody
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != tc.status || body.Error.Code != tc.code {
			t.Errorf("%v: %d %q, want %d %q", tc.err, w.Code, body.Error.Code, tc.status, tc.code)
		}
		if tc.status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Errorf("%v: 429 without Retry-After", tc.err)
		}
	}
}
