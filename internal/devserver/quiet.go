package devserver

import "go.uber.org/zap/zapcore"

// routineWarnings are server warnings that every Temporal UI page view causes and that ask
// nothing of the user: the UI's history page asks for 1000 events a page, above the
// frontend's fixed limit, and the server warns as it clamps the page size.
var routineWarnings = map[string]bool{
	"GetHistory page size is larger than threshold": true,
}

// quietCore logs routineWarnings at debug level; everything else passes unchanged.
type quietCore struct{ zapcore.Core }

func quietRoutineWarnings(c zapcore.Core) zapcore.Core { return quietCore{c} }

func (c quietCore) With(fields []zapcore.Field) zapcore.Core { return quietCore{c.Core.With(fields)} }

func (c quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level == zapcore.WarnLevel && routineWarnings[e.Message] {
		e.Level = zapcore.DebugLevel
	}
	return c.Core.Check(e, ce)
}
