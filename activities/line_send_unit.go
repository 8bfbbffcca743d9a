package activities

import "context"

// SendUnitsPerSecond is how many send units a second carries at any push rate: units are
// sized so the server-side rate of an account's send-unit task queue stays this fine-grained
// (a unit smaller than its size still costs the server one dispatch).
const SendUnitsPerSecond = 20

// MaxSendUnitPushes bounds a unit's size (and so its payload and one attempt's work).
const MaxSendUnitPushes = 100

// SendUnitFor is the number of pushes in one send unit at pushesPerSecond: 1/20 s of the
// channel's pace, from 1 to MaxSendUnitPushes.
func SendUnitFor(pushesPerSecond int) int {
	r := RateFor(pushesPerSecond).PushesPerSecond
	u := (r + SendUnitsPerSecond - 1) / SendUnitsPerSecond
	return max(1, min(u, MaxSendUnitPushes))
}

// LineSendUnit tells a batch (as a local activity, recorded in its history) how many pushes
// one send unit of the account carries, from this worker's LINE_PUSH_RATE. Every worker
// shares the setting, so a batch's units match the rate the server paces them at.
func (a *Activities) LineSendUnit(ctx context.Context, account int) (int, error) {
	return SendUnitFor(PushRateOf(ctx, a, account)), nil
}
