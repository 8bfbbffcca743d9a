package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/hubline/hubline/internal/line"
)

// LineAccounts finds LINE accounts beyond the fixed LINE map (internal/accounts.Clients).
type LineAccounts interface {
	// LineClient is account n's client: nil without an error when there is no such account.
	LineClient(ctx context.Context, n int) (*line.Client, error)
	// PushRate is account n's pushes per second; 0 means the default.
	PushRate(ctx context.Context, n int) int
}

// lineClient finds account n's client, or the non-retryable error a send reports.
func (a *Activities) lineClient(ctx context.Context, n int) (*line.Client, error) {
	if c, ok := a.LINE[n]; ok {
		return c, nil
	}
	if a.Accounts != nil {
		c, err := a.Accounts.LineClient(ctx, n)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error()+" (check the channel access token)", ErrLineAuth, nil)
		}
		if c != nil {
			return c, nil
		}
	}
	return nil, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("LINE account %d is not configured on this worker (set LINE_CHANNEL_ACCESS_TOKEN_%d, or add it with hubline accounts add)", n, n),
		ErrUnknownAccount, nil)
}

// PushRateOf is account n's pushes per second as configured (LINE_PUSH_RATE(_n) or its
// stored rate); 0 means the default. A function, not a method: every exported method of
// Activities is registered as an activity.
func PushRateOf(ctx context.Context, a *Activities, n int) int {
	if r, ok := a.LinePushRate[n]; ok {
		return r
	}
	if a.Accounts != nil {
		return a.Accounts.PushRate(ctx, n)
	}
	return 0
}
