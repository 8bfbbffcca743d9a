package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/hubline/hubline/internal/line"
)

// LineQuotaInput names the LINE account whose monthly quota is read.
type LineQuotaInput struct {
	Account int
}

// LineQuotaOutput: Remaining is meaningful only when Limited.
type LineQuotaOutput struct {
	Limited   bool
	Remaining int64
}

// LineQuota reads an account's monthly message quota and what it used, so a queue can
// pause before a broadcast that cannot fit instead of meeting LINE's 429 halfway.
func (a *Activities) LineQuota(ctx context.Context, in LineQuotaInput) (LineQuotaOutput, error) {
	client, err := a.lineClient(ctx, in.Account)
	if err != nil {
		return LineQuotaOutput{}, err
	}
	q, err := client.Quota(ctx)
	if err != nil {
		var ae *line.APIError
		if errors.As(err, &ae) && !ae.Retryable() {
			return LineQuotaOutput{}, temporal.NewNonRetryableApplicationError(ae.Error(), ErrLineInvalid, nil)
		}
		return LineQuotaOutput{}, err
	}
	return LineQuotaOutput{Limited: q.Limited, Remaining: q.Remaining()}, nil
}
