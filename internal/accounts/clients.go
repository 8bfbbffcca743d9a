package accounts

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/hubline/hubline/internal/line"
)

// Clients hands the worker a LINE client per account, built on first use from the account's
// token, so a stored account added while the worker runs is usable without a restart.
type Clients struct {
	r       *Resolver
	baseURL string
	hc      *http.Client

	mu sync.Mutex
	m  map[int]tokenClient
}

type tokenClient struct {
	token string
	c     *line.Client
}

// NewClients builds LINE clients of r's accounts against baseURL (LINE_API_BASE_URL).
func NewClients(r *Resolver, baseURL string, hc *http.Client) *Clients {
	return &Clients{r: r, baseURL: baseURL, hc: hc, m: map[int]tokenClient{}}
}

// LineClient is account n's client; nil without an error when no such account exists
// (after a reload). A token LINE's client refuses is an error.
func (c *Clients) LineClient(ctx context.Context, n int) (*line.Client, error) {
	a, ok := c.r.Account(ctx, n)
	if !ok {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if tc, ok := c.m[n]; ok && tc.token == a.AccessToken {
		return tc.c, nil
	}
	lc, err := line.NewClient(c.baseURL, a.AccessToken, c.hc)
	if err != nil {
		return nil, fmt.Errorf("LINE account %d: %w", n, err)
	}
	c.m[n] = tokenClient{a.AccessToken, lc}
	return lc, nil
}

// PushRate is account n's pushes per second (0: unknown account, the caller's default).
func (c *Clients) PushRate(ctx context.Context, n int) int {
	a, ok := c.r.Account(ctx, n)
	if !ok {
		return 0
	}
	return a.PushRate
}
