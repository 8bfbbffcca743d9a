package config

import (
	"fmt"
	"net/url"
	"strings"
)

// LineEventForward is where account n's LINE events other than follow and unfollow are
// forwarded (HUBLINE_LINE_EVENT_FORWARD_URL(_n)), signed with Secret when set.
type LineEventForward struct {
	URL    string
	Secret string
}

// loadLineWebhooks reads LINE_CHANNEL_SECRET(_n) and HUBLINE_LINE_EVENT_FORWARD_URL(_n) /
// _SECRET(_n). Errors never echo secrets.
func (c *Config) loadLineWebhooks(env map[string]string) []error {
	var errs []error
	c.LineChannelSecrets = map[int]string{}
	c.LineEventForwards = map[int]LineEventForward{}
	secrets := map[int]string{}
	for k, v := range env {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		for _, base := range []string{"LINE_CHANNEL_SECRET", "HUBLINE_LINE_EVENT_FORWARD_URL", "HUBLINE_LINE_EVENT_FORWARD_SECRET"} {
			n, ok := numbered(k, base)
			if !ok {
				continue
			}
			if n == 0 {
				errs = append(errs, fmt.Errorf("%s: account numbers start at 2 for numbered variables", k))
				continue
			}
			switch base {
			case "LINE_CHANNEL_SECRET":
				c.LineChannelSecrets[n] = v
			case "HUBLINE_LINE_EVENT_FORWARD_URL":
				// The URL may carry a token in its query: never echo it.
				if p, err := url.Parse(v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
					errs = append(errs, fmt.Errorf("%s: want an http(s) URL such as https://bot.example.com/line-events", k))
					continue
				}
				f := c.LineEventForwards[n]
				f.URL = v
				c.LineEventForwards[n] = f
			case "HUBLINE_LINE_EVENT_FORWARD_SECRET":
				secrets[n] = v
			}
		}
	}
	for n, s := range secrets {
		f, ok := c.LineEventForwards[n]
		if !ok {
			errs = append(errs, fmt.Errorf("HUBLINE_LINE_EVENT_FORWARD_SECRET%s is set without HUBLINE_LINE_EVENT_FORWARD_URL%s", accountSuffix(n), accountSuffix(n)))
			continue
		}
		f.Secret = s
		c.LineEventForwards[n] = f
	}
	return errs
}

// accountSuffix is the numbered variables' suffix of account n: "" for 1, "_<n>" otherwise.
func accountSuffix(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf("_%d", n)
}
