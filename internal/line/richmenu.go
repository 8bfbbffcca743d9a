package line

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
)

var richMenuIDRE = regexp.MustCompile(`^richmenu-[0-9a-f]{32}$`)

// ValidRichMenuID reports whether s has the shape of a LINE rich menu ID (richmenu- and 32
// hex digits). Rich menu aliases are not IDs: the per-user link takes an ID.
func ValidRichMenuID(s string) bool { return richMenuIDRE.MatchString(s) }

// ErrUnknownRichMenu wraps the *APIError of a link LINE answered 404: the channel has no
// rich menu with that ID (deleted, or made on another channel).
var ErrUnknownRichMenu = errors.New("line: unknown rich menu")

// RichMenuResult describes a per-user rich menu change LINE accepted.
type RichMenuResult struct {
	RequestID string
}

// LinkRichMenu shows rich menu richMenuID to one user
// (POST /v2/bot/user/{userId}/richmenu/{richMenuId}). Linking the same menu again is
// harmless, so a retry after a lost answer is safe. A 404 is ErrUnknownRichMenu; other
// errors are classified like Push's.
func (c *Client) LinkRichMenu(ctx context.Context, userID, richMenuID string) (RichMenuResult, error) {
	// Both go into the URL path unescaped (the SDK pastes them in): refuse anything else.
	if !ValidUserID(userID) {
		return RichMenuResult{}, refused("user ID is not a valid LINE user ID")
	}
	if !ValidRichMenuID(richMenuID) {
		return RichMenuResult{}, refused("rich menu ID is not richmenu- followed by 32 hex digits")
	}
	api, err := c.api(ctx)
	if err != nil {
		return RichMenuResult{}, err
	}
	res, _, err := api.LinkRichMenuIdToUserWithHttpInfo(userID, richMenuID)
	if err != nil {
		err = richMenuFailure("rich menu link", res, err)
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
			return RichMenuResult{}, fmt.Errorf("%w: %w", ErrUnknownRichMenu, err)
		}
		return RichMenuResult{}, err
	}
	return RichMenuResult{RequestID: res.Header.Get("X-Line-Request-Id")}, nil
}

// UnlinkRichMenu removes the user's own rich menu, so the channel's default menu shows
// again (DELETE /v2/bot/user/{userId}/richmenu).
func (c *Client) UnlinkRichMenu(ctx context.Context, userID string) (RichMenuResult, error) {
	if !ValidUserID(userID) {
		return RichMenuResult{}, refused("user ID is not a valid LINE user ID")
	}
	api, err := c.api(ctx)
	if err != nil {
		return RichMenuResult{}, err
	}
	res, _, err := api.UnlinkRichMenuIdFromUserWithHttpInfo(userID)
	if err != nil {
		return RichMenuResult{}, richMenuFailure("rich menu unlink", res, err)
	}
	return RichMenuResult{RequestID: res.Header.Get("X-Line-Request-Id")}, nil
}

// richMenuFailure is readFailure for calls whose URL holds the user ID: a transport
// error's text names the URL, and user IDs must not reach logs or HubSpot, so only the
// underlying cause is kept.
func richMenuFailure(what string, res *http.Response, err error) error {
	if res != nil && res.StatusCode/100 != 2 {
		return readFailure(what, res, err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("line: %s request failed: %s: %w", what, ue.Op, ue.Err)
	}
	return fmt.Errorf("line: %s request failed: %w", what, err)
}
