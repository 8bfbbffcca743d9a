package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/logging"
)

// ErrUnknownRichMenu: LINE answered 404 to the link, the account has no such rich menu.
// Final: the menu will not appear by retrying.
const ErrUnknownRichMenu = "unknown_rich_menu"

// RichMenuInput is one per-user rich menu change.
type RichMenuInput struct {
	Account int
	UserID  string
	// RichMenuID is the menu to link; empty unlinks, so the account's default menu shows.
	RichMenuID string
	// Deadline is the block expiration: nothing is changed after it.
	Deadline time.Time
}

// RichMenuOutput says how LINE accepted the change.
type RichMenuOutput struct {
	RequestID string
}

// SetLineRichMenu links the rich menu to the user, or unlinks the user's menu. Both are
// idempotent at LINE (the same menu linked twice is still one link), so a retry after a
// lost answer needs no retry key.
func (a *Activities) SetLineRichMenu(ctx context.Context, in RichMenuInput) (RichMenuOutput, error) {
	log := a.logger().With(zap.Int("line_account", in.Account), logging.UserID(in.UserID),
		zap.String("rich_menu_id", in.RichMenuID), zap.Int32("attempt", activity.GetInfo(ctx).Attempt))
	if !in.Deadline.IsZero() && !a.now().Before(in.Deadline) {
		return RichMenuOutput{}, temporal.NewNonRetryableApplicationError(
			"the action's block expiration passed before the rich menu could be changed; not changing it late", ErrExpired, nil)
	}
	client, err := a.lineClient(ctx, in.Account)
	if err != nil {
		return RichMenuOutput{}, err
	}
	var res line.RichMenuResult
	if in.RichMenuID == "" {
		res, err = client.UnlinkRichMenu(ctx, in.UserID)
	} else {
		res, err = client.LinkRichMenu(ctx, in.UserID, in.RichMenuID)
	}
	if err != nil {
		log.Warn("LINE rich menu change failed", zap.Error(err))
		if errors.Is(err, line.ErrUnknownRichMenu) {
			return RichMenuOutput{}, temporal.NewNonRetryableApplicationError(
				"LINE has no rich menu "+in.RichMenuID+" on this account (deleted, or created on another channel)", ErrUnknownRichMenu, nil)
		}
		return RichMenuOutput{}, classifyLineError(err)
	}
	log.Info("LINE rich menu changed", zap.String("line_request_id", res.RequestID), zap.Bool("unlinked", in.RichMenuID == ""))
	return RichMenuOutput{RequestID: res.RequestID}, nil
}
