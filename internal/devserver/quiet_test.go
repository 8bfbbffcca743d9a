package devserver

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRoutineServerWarningsAreDebug(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := zap.New(core).WithOptions(zap.WrapCore(quietRoutineWarnings)).With(zap.String("service", "frontend"))
	l.Warn("GetHistory page size is larger than threshold", zap.Int("wf-size", 1000))
	l.Warn("Not enough hosts to serve the request")
	l.Error("GetHistory page size is larger than threshold") // an error is never quieted
	got := logs.All()
	if len(got) != 2 || got[0].Message != "Not enough hosts to serve the request" || got[0].Level != zapcore.WarnLevel ||
		got[1].Level != zapcore.ErrorLevel {
		t.Fatalf("logged %+v", got)
	}

	debug, all := observer.New(zap.DebugLevel)
	zap.New(debug).WithOptions(zap.WrapCore(quietRoutineWarnings)).Warn("GetHistory page size is larger than threshold")
	if all.Len() != 1 || all.All()[0].Level != zapcore.DebugLevel {
		t.Fatalf("at debug level the warning should show as debug: %+v", all.All())
	}
}
