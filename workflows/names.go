// Package workflows holds hubline's Temporal workflows. They are plain deterministic
// functions: configuration reaches them only through their input and activity results.
package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// TaskQueue is where the starter sends the queue's workflows (and, before
// hubline-interactive, every workflow) and the worker polls. Part of the contract.
const TaskQueue = "hubline"

// InteractiveTaskQueue is where the starter sends per-execution actions (v1, v2, Send
// Data): their own task slots, so a broadcast never delays them.
const InteractiveTaskQueue = "hubline-interactive"

// Workflow type names (contract: other tools filter on them).
const (
	SendLineMessageWorkflow = "SendLineMessage"
)

// Action types, the ActionType search attribute's values.
const (
	ActionSendLineMessage      = "send_line_message"
	ActionSendLineMessageV2    = "send_line_message_v2"
	ActionSendLineMessageQueue = "send_line_message_queue"
	ActionSendData             = "send_data"
	ActionSetLineRichMenu      = "set_line_rich_menu"
)

// Search attributes set at workflow start (DeliveryStatus, in delivery_status.go, is upserted
// by the workflows). Keyword only, and never message text or LINE user IDs: search
// attributes are not encrypted by payload codecs.
var (
	SAHubSpotPortalID   = temporal.NewSearchAttributeKeyKeyword("HubSpotPortalId")
	SAHubSpotWorkflowID = temporal.NewSearchAttributeKeyKeyword("HubSpotWorkflowId")
	SAHubSpotObjectID   = temporal.NewSearchAttributeKeyKeyword("HubSpotObjectId")
	SALineAccount       = temporal.NewSearchAttributeKeyKeyword("LineAccount")
	SAAnalyticsTag      = temporal.NewSearchAttributeKeyKeyword("AnalyticsTag")
	SAActionType        = temporal.NewSearchAttributeKeyKeyword("ActionType")
)

// SearchAttributes lists every custom search attribute with its type, for namespace setup
// (dev server, tests, the production compose file's setup step).
func SearchAttributes() map[string]enumspb.IndexedValueType {
	m := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKeyKeyword{
		SAHubSpotPortalID, SAHubSpotWorkflowID, SAHubSpotObjectID, SALineAccount, SAAnalyticsTag, SAActionType,
		SADeliveryStatus,
	} {
		m[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return m
}

// WorkflowID is the deterministic ID of the workflow serving one HubSpot execution, so a
// redelivered callbackId finds the run that already exists.
func WorkflowID(callbackID string) string { return "hubspot-" + callbackID }
