package config

import (
	"net/url"
	"slices"
	"strings"
)

// Redacted replaces a secret's value in the effective configuration.
const Redacted = "[redacted]"

// secretWords mark a setting whose value is a secret by its name.
var secretWords = []string{"TOKEN", "SECRET", "KEY", "PASSWORD"}

// Effective is what a command runs with: every setting it reads (numbered variants that
// are set included), as set in environ or else its default, with secrets redacted. Printed
// once at start-up, it answers "which value did the process actually get?" without
// exposing credentials.
func Effective(environ []string, command string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = strings.TrimSpace(v)
		}
	}
	out := map[string]string{}
	for _, s := range Settings {
		if !slices.Contains(s.Commands, command) {
			continue
		}
		v := env[s.Name]
		if v == "" {
			v = s.Default
		}
		out[s.Name] = Redact(s.Name, v)
		for k, v := range env {
			if n, ok := numbered(k, s.Name); ok && n >= 2 && v != "" {
				out[k] = Redact(k, v)
			}
		}
	}
	return out
}

// Redact hides value when name says it is a secret, and the credentials of a URL value
// (user:password@, and query parameters whose names say they are secrets).
func Redact(name, value string) string {
	if value == "" {
		return ""
	}
	upper := strings.ToUpper(name)
	for _, w := range secretWords {
		if strings.Contains(upper, w) {
			return Redacted
		}
	}
	if !strings.Contains(value, "://") {
		if strings.Contains(strings.ToLower(value), "password=") {
			return Redacted // a key=value connection string (pgx takes them too)
		}
		return value
	}
	u, err := url.Parse(value)
	if err != nil {
		return Redacted // unparsable but URL-like: it may still hold credentials
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			for _, w := range secretWords {
				if strings.Contains(strings.ToUpper(k), w) {
					q.Set(k, "REDACTED")
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
