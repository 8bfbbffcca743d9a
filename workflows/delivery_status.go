package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// SADeliveryStatus is where a per-execution action stands: pending while it works, then how
// it settled. Operators filter failed sends on it in the Temporal UI.
var SADeliveryStatus = temporal.NewSearchAttributeKeyKeyword("DeliveryStatus")

// DeliveryStatus values (contract: saved UI filters and scripts match them).
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	DeliveryExpired   = "expired"
)

// versionDeliveryStatus marks runs that upsert DeliveryStatus; runs started by older workers
// replay without the upserts and never get the attribute.
const versionDeliveryStatus = "delivery-status"

// DeliveryStatusOf maps an action's output fields to its DeliveryStatus: SUCCESS is
// delivered (for Send Data, the receiver answered 2xx), error_code expired is expired, and
// every other FAIL_CONTINUE is failed.
func DeliveryStatusOf(out map[string]string) string {
	switch {
	case out[FieldExecutionState] == StateSuccess:
		return DeliveryDelivered
	case out[FieldErrorCode] == CodeExpired:
		return DeliveryExpired
	default:
		return DeliveryFailed
	}
}

// deliveryStatus upserts DeliveryStatus for runs that started on a worker with this code.
type deliveryStatus struct{ on bool }

// trackDelivery must run before the action's first command: it records the version and
// marks the run pending. (The workflow, not the starter, sets pending, so a run that an
// older worker executes never shows a pending that nothing will settle.)
func trackDelivery(ctx workflow.Context) deliveryStatus {
	d := deliveryStatus{on: workflow.GetVersion(ctx, versionDeliveryStatus, workflow.DefaultVersion, 1) >= 1}
	d.upsert(ctx, DeliveryPending)
	return d
}

// settle records the outcome as soon as it is known, before HubSpot is told (the callback
// and timeline may retry for hours; the delivery's status does not wait for them).
func (d deliveryStatus) settle(ctx workflow.Context, out map[string]string) {
	d.upsert(ctx, DeliveryStatusOf(out))
}

func (d deliveryStatus) upsert(ctx workflow.Context, status string) {
	if !d.on {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, SADeliveryStatus.ValueSet(status)); err != nil {
		// Only a malformed update fails here; an unregistered attribute fails the workflow
		// task instead, which the worker's start-up check rules out.
		workflow.GetLogger(ctx).Error("DeliveryStatus not recorded", "status", status, "error", err)
	}
}

// withOutcome fills the result's summary fields from the output fields, so the run's result
// in the Temporal UI says how it settled even though the run itself completes.
func withOutcome(res SendLineMessageResult) SendLineMessageResult {
	res.DeliveryStatus = DeliveryStatusOf(res.OutputFields)
	res.ErrorCode = res.OutputFields[FieldErrorCode]
	return res
}
