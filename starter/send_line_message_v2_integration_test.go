package starter_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/workflows"
)

func v2Action(callbackID string, objectID int64, props map[string]any) map[string]any {
	a := testenv.Action(callbackID, map[string]string{"message_1": "Hello {{contact.firstname|there}}"}, nil)
	a["object"] = map[string]any{"objectId": objectID, "objectType": "CONTACT", "properties": props}
	return a
}

const otherUserID = "Ubbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func TestSendLineMessageV2Integration(t *testing.T) {
	env := testenv.New(t, testenv.Options{})

	run := func(t *testing.T, cb string, body map[string]any) workflows.ActionResult {
		t.Helper()
		r := env.Post("/actions/send-line-message-v2", body)
		if r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" {
			t.Fatalf("start answer %d %s", r.Status, r.Raw)
		}
		var res workflows.ActionResult
		if err := env.Result(workflows.WorkflowID(cb), &res); err != nil {
			t.Fatal(err)
		}
		c, ok := callbackOf(env, cb)
		if !ok || c.OutputFields["hs_execution_state"] != res.OutputFields["hs_execution_state"] ||
			c.OutputFields["error_code"] != res.OutputFields["error_code"] {
			t.Fatalf("callback %+v vs result %v", c, res.OutputFields)
		}
		return res
	}

	t.Run("from object.properties, no CRM call", func(t *testing.T) {
		// The contact does not exist in the CRM: only the request's properties can supply the ID.
		res := run(t, "v2-props", v2Action("v2-props", 1001, map[string]any{"line_user_id": testenv.UserID, "firstname": "Aiko"}))
		if res.OutputFields["hs_execution_state"] != "SUCCESS" || res.OutputFields["line_request_id"] == "" {
			t.Fatalf("outputs %v", res.OutputFields)
		}
		ds := env.LINE.Deliveries()
		last := ds[len(ds)-1]
		if last.To != testenv.UserID || last.RetryKey != workflows.RetryKey("v2-props") || !strings.Contains(string(last.Messages[0]), "Hello Aiko") {
			t.Fatalf("delivery %+v", last)
		}
	})

	t.Run("from the CRM API", func(t *testing.T) {
		env.HubSpot.SetContact("1002", map[string]string{"line_user_id": otherUserID, "firstname": "Ken"})
		res := run(t, "v2-crm", v2Action("v2-crm", 1002, map[string]any{"firstname": "Ken"}))
		if res.OutputFields["hs_execution_state"] != "SUCCESS" || env.LINE.DeliveredTo(otherUserID) != 1 {
			t.Fatalf("outputs %v, delivered %d", res.OutputFields, env.LINE.DeliveredTo(otherUserID))
		}
		recordHistory(t, env, workflows.WorkflowID("v2-crm"), "send_line_message_v2.json")
	})

	t.Run("missing property", func(t *testing.T) {
		env.HubSpot.SetContact("1003", map[string]string{"firstname": "Mei"})
		before := env.LINE.DeliveryCount()
		res := run(t, "v2-missing", v2Action("v2-missing", 1003, nil))
		if res.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || res.OutputFields["error_code"] != "no_line_user_id" ||
			env.LINE.DeliveryCount() != before {
			t.Fatalf("outputs %v", res.OutputFields)
		}
		// Requested by the definition but empty: answered at once, no workflow.
		r := env.Post("/actions/send-line-message-v2", v2Action("v2-empty", 1003, map[string]any{"line_user_id": nil}))
		if r.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || r.OutputFields["error_code"] != "no_line_user_id" {
			t.Fatalf("empty requested property: %s", r.Raw)
		}
		// Malformed IDs are rejected like v1's.
		r = env.Post("/actions/send-line-message-v2", v2Action("v2-bad", 1003, map[string]any{"line_user_id": "nope"}))
		if r.OutputFields["error_code"] != "invalid_line_user_id" {
			t.Fatalf("malformed property: %s", r.Raw)
		}
	})

	t.Run("HubSpot 403 is hubspot_auth", func(t *testing.T) {
		env.HubSpot.SetContact("1004", map[string]string{"line_user_id": otherUserID})
		env.HubSpot.FailNext("/crm/v3/objects/contacts/batch/read", http.StatusForbidden, 1)
		res := run(t, "v2-403", v2Action("v2-403", 1004, nil))
		if res.OutputFields["error_code"] != "hubspot_auth" {
			t.Fatalf("outputs %v", res.OutputFields)
		}
	})

	t.Run("HubSpot 429 then success", func(t *testing.T) {
		env.HubSpot.SetContact("1005", map[string]string{"line_user_id": otherUserID})
		env.HubSpot.FailNext("/crm/v3/objects/contacts/batch/read", http.StatusTooManyRequests, 1)
		start := time.Now()
		res := run(t, "v2-429", v2Action("v2-429", 1005, nil))
		if res.OutputFields["hs_execution_state"] != "SUCCESS" || env.HubSpot.RateLimited() < 1 {
			t.Fatalf("outputs %v (rate limited %d)", res.OutputFields, env.HubSpot.RateLimited())
		}
		t.Logf("429 then success took %v", time.Since(start))
	})
}
