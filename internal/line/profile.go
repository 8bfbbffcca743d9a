package line

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// ErrNotFriend wraps the *APIError of a profile LINE answered 404: the user is not (or no
// longer) a friend of the account, or blocked it.
var ErrNotFriend = errors.New("line: user is not a friend of the account")

// Profile is a friend's LINE profile. DisplayName and PictureURL are personal data: never
// log them.
type Profile struct {
	DisplayName string
	PictureURL  string
	Language    string
}

// Profile reads a friend's profile (GET /v2/bot/profile/{userId}). A 404 is ErrNotFriend;
// other errors are classified like Push's, and never name the user ID.
func (c *Client) Profile(ctx context.Context, userID string) (Profile, error) {
	// The SDK pastes the ID into the URL path unescaped: refuse anything else.
	if !ValidUserID(userID) {
		return Profile{}, refused("user ID is not a valid LINE user ID")
	}
	api, err := c.api(ctx)
	if err != nil {
		return Profile{}, err
	}
	res, p, err := api.GetProfileWithHttpInfo(userID)
	if err != nil {
		if res != nil && res.StatusCode/100 != 2 {
			err = readFailure("profile", res, err)
			var ae *APIError
			if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
				return Profile{}, fmt.Errorf("%w: %w", ErrNotFriend, err)
			}
			return Profile{}, err
		}
		// A transport error's text names the URL, which holds the user ID: keep the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Profile{}, fmt.Errorf("line: profile request failed: %w", err)
	}
	if p == nil {
		return Profile{}, errors.New("line: profile: empty answer")
	}
	return Profile{DisplayName: p.DisplayName, PictureURL: p.PictureUrl, Language: p.Language}, nil
}
