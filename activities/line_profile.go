package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/line"
)

// LineProfileInput names one LINE user of one account.
type LineProfileInput struct {
	Account int
	UserID  string
}

// LineProfileOutput is the user's profile; Friend false means LINE answered 404 (not a
// friend, or blocked the account since), and the rest is empty.
type LineProfileOutput struct {
	Friend      bool
	DisplayName string
	PictureURL  string
	Language    string
}

// LineProfile reads a follower's profile (GET /v2/bot/profile/{userId}). 5xx, 429 and
// transport failures retry; a refused token or request is final. Nothing of the profile is
// logged.
func (l *LineEvents) LineProfile(ctx context.Context, in LineProfileInput) (LineProfileOutput, error) {
	c, err := l.Activities.lineClient(ctx, in.Account)
	if err != nil {
		return LineProfileOutput{}, err
	}
	p, err := c.Profile(ctx, in.UserID)
	var ae *line.APIError
	switch {
	case errors.Is(err, line.ErrNotFriend):
		l.logger().Info("LINE user is not a friend (profile 404)", zap.Int("line_account", in.Account), zap.String("user", UserRef(in.UserID)))
		return LineProfileOutput{}, nil
	case errors.As(err, &ae) && ae.Kind == line.KindAuth:
		return LineProfileOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrLineAuth, nil)
	case errors.As(err, &ae) && !ae.Retryable():
		return LineProfileOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrLineInvalid, nil)
	case err != nil:
		return LineProfileOutput{}, temporal.NewApplicationError(err.Error(), ErrLineUnavailable)
	}
	return LineProfileOutput{Friend: true, DisplayName: p.DisplayName, PictureURL: p.PictureURL, Language: p.Language}, nil
}
