package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LineLogin is the LINE Login channel of a LINE account (LINE_LOGIN_CHANNEL_ID[_<n>],
// LINE_LOGIN_CHANNEL_SECRET[_<n>]), under the same LINE provider as the account.
type LineLogin struct {
	ChannelID     string
	ChannelSecret string
}

// maxLineLinkTTL keeps a forgotten link from working for ever.
const maxLineLinkTTL = 366 * 24 * time.Hour

// ParseLinkTTL parses HUBLINE_LINE_LINK_TTL: whole days ("30d") or a Go duration ("720h",
// "90m"), from one minute to 366 days.
func ParseLinkTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 366 {
			return 0, errors.New("want whole days such as 30d, or a Go duration such as 720h")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("want whole days such as 30d, or a Go duration such as 720h")
		}
	}
	if d < time.Minute || d > maxLineLinkTTL {
		return 0, errors.New("must be from 1m to 366d")
	}
	return d, nil
}

// loadLineLogin reads the LINE Login settings.
func (c *Config) loadLineLogin(env map[string]string, get func(string) string) []error {
	var errs []error
	var err error
	if c.LineLinkTTL, err = ParseLinkTTL(get("HUBLINE_LINE_LINK_TTL")); err != nil {
		errs = append(errs, fmt.Errorf("HUBLINE_LINE_LINK_TTL=%q: %w", get("HUBLINE_LINE_LINK_TTL"), err))
	}
	c.LineLoginAuthorizeURL = get("LINE_LOGIN_AUTHORIZE_URL")
	if p, err := url.Parse(c.LineLoginAuthorizeURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		errs = append(errs, fmt.Errorf("LINE_LOGIN_AUTHORIZE_URL=%q: want an http(s) URL such as https://access.line.me/oauth2/v2.1/authorize", c.LineLoginAuthorizeURL))
	}
	c.LineLogins = map[int]LineLogin{}
	for k, v := range env {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if n, ok := numbered(k, "LINE_LOGIN_CHANNEL_ID"); ok {
			switch {
			case n == 0:
				errs = append(errs, fmt.Errorf("%s: account numbers start at 2 for numbered variables", k))
			case strings.Trim(v, "0123456789") != "":
				errs = append(errs, fmt.Errorf("%s=%q: want the LINE Login channel's ID (digits, from the LINE Developers console)", k, v))
			default:
				l := c.LineLogins[n]
				l.ChannelID = v
				c.LineLogins[n] = l
			}
		}
		if n, ok := numbered(k, "LINE_LOGIN_CHANNEL_SECRET"); ok {
			if n == 0 {
				errs = append(errs, fmt.Errorf("%s: account numbers start at 2 for numbered variables", k))
				continue
			}
			l := c.LineLogins[n]
			l.ChannelSecret = v
			c.LineLogins[n] = l
		}
	}
	for n, l := range c.LineLogins {
		if l.ChannelID == "" || l.ChannelSecret == "" {
			errs = append(errs, fmt.Errorf("LINE Login of account %d: set both %s and %s", n,
				numberedName("LINE_LOGIN_CHANNEL_ID", n), numberedName("LINE_LOGIN_CHANNEL_SECRET", n)))
		}
	}
	return errs
}

func numberedName(base string, n int) string {
	if n == 1 {
		return base
	}
	return base + "_" + strconv.Itoa(n)
}
