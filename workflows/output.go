package workflows

// HubSpot execution states and output field names (contract: HubSpot workflows branch on them).
const (
	StateSuccess      = "SUCCESS"
	StateFailContinue = "FAIL_CONTINUE"
	StateBlock        = "BLOCK"

	FieldExecutionState     = "hs_execution_state"
	FieldExpirationDuration = "hs_expiration_duration"
	FieldLineRequestID      = "line_request_id"
	FieldErrorCode          = "error_code"
	FieldErrorMessage       = "error_message"
)

// Error codes returned to HubSpot in error_code.
const (
	CodeExpired          = "expired"
	CodeLineRejected     = "line_rejected"
	CodeLineAuth         = "line_auth"
	CodeLineMonthlyLimit = "line_monthly_limit"
	CodeLineUnavailable  = "line_unavailable"
	CodeUnknownAccount   = "unknown_line_account"
	// CodeDeliveryUnknown: a push may have reached LINE before the deadline but no answer
	// proves it (the attempt was cut off); it is not pushed again after the deadline.
	CodeDeliveryUnknown = "delivery_unknown"
)

// Success builds the output fields of a delivered action.
func Success(extra map[string]string) map[string]string {
	out := map[string]string{FieldExecutionState: StateSuccess}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// Failure builds FAIL_CONTINUE output fields, so the HubSpot workflow can branch on the code.
func Failure(code, message string) map[string]string {
	return map[string]string{FieldExecutionState: StateFailContinue, FieldErrorCode: code, FieldErrorMessage: message}
}
