// Package logging builds hubline's zap logger and adapts it to the Temporal SDK's logger
// interface, so workflow, activity and SDK logs share one structured stream.
package logging

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a JSON logger (production) or a console logger (dev) at the given level.
func New(console bool, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	var cfg zap.Config
	if console {
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
}

// Temporal adapts a zap logger to go.temporal.io/sdk/log.Logger.
func Temporal(l *zap.Logger) log.Logger {
	return &temporalLogger{l: l.WithOptions(zap.AddCallerSkip(1))}
}

type temporalLogger struct{ l *zap.Logger }

func (t *temporalLogger) Debug(msg string, kv ...interface{}) { t.l.Debug(msg, fields(kv)...) }
func (t *temporalLogger) Info(msg string, kv ...interface{})  { t.l.Info(msg, fields(kv)...) }
func (t *temporalLogger) Warn(msg string, kv ...interface{})  { t.l.Warn(msg, fields(kv)...) }
func (t *temporalLogger) Error(msg string, kv ...interface{}) {
	if expectedRetry(msg, kv) {
		t.l.Info(msg, fields(kv)...)
		return
	}
	t.l.Error(msg, fields(kv)...)
}

// expectedRetry reports the SDK's "Activity error." for an error the activity returned as
// retryable on purpose (a temporal.ApplicationError that is not non-retryable: LINE or
// HubSpot briefly unavailable, a 429): the SDK logs every such attempt at ERROR, though
// retrying is the plan. Non-retryable errors, panics, timeouts and errors an activity did
// not classify stay at ERROR; the workflow reports an outcome that is finally a failure.
func expectedRetry(msg string, kv []interface{}) bool {
	if msg != "Activity error." {
		return false
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] != "Error" {
			continue
		}
		err, _ := kv[i+1].(error)
		var appErr *temporal.ApplicationError
		return errors.As(err, &appErr) && !appErr.NonRetryable()
	}
	return false
}

// With makes the adapter a log.WithLogger, so SDK-added context (workflow ID, attempt) is kept.
func (t *temporalLogger) With(kv ...interface{}) log.Logger {
	return &temporalLogger{l: t.l.With(fields(kv)...)}
}

func fields(kv []interface{}) []zap.Field {
	fs := make([]zap.Field, 0, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		if i+1 >= len(kv) {
			fs = append(fs, zap.String("_extra", key))
			break
		}
		fs = append(fs, zap.Any(key, kv[i+1]))
	}
	return fs
}

// UserID shortens a LINE user ID for logs: enough to correlate, not enough to message.
func UserID(id string) zap.Field {
	if len(id) > 7 {
		id = id[:5] + "…"
	}
	return zap.String("line_user", id)
}
