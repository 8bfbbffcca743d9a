package hubspotsandbox

import (
	"fmt"
	"net/http"
	"testing"
)

func TestContactProperties(t *testing.T) {
	s := New(Options{AccessToken: tok})
	const prop = `{"name":"line_user_id","label":"LINE user ID","groupName":"hubline","type":"string","fieldType":"text","hasUniqueValue":true}`

	rec, body := call(t, s, "POST", "/crm/v3/properties/contacts", prop)
	wantStatus(t, rec, http.StatusBadRequest)
	wantErrorBody(t, body, "VALIDATION_ERROR", "Unable to find property group hubline")

	rec, body = call(t, s, "GET", "/crm/v3/properties/contacts/groups/hubline", "")
	wantStatus(t, rec, http.StatusNotFound)
	wantErrorBody(t, body, "OBJECT_NOT_FOUND", "hubline")
	rec, _ = call(t, s, "POST", "/crm/v3/properties/contacts/groups", `{"name":"hubline","label":"LINE (hubline)"}`)
	wantStatus(t, rec, http.StatusCreated)
	rec, body = call(t, s, "POST", "/crm/v3/properties/contacts/groups", `{"name":"hubline","label":"Other"}`)
	wantStatus(t, rec, http.StatusConflict)
	wantErrorBody(t, body, "OBJECT_ALREADY_EXISTS", "hubline")
	rec, body = call(t, s, "GET", "/crm/v3/properties/contacts/groups/hubline", "")
	wantStatus(t, rec, http.StatusOK)
	if body["label"] != "LINE (hubline)" {
		t.Errorf("a 409 changed the group: %v", body)
	}

	rec, body = call(t, s, "POST", "/crm/v3/properties/contacts", prop)
	wantStatus(t, rec, http.StatusCreated)
	if body["name"] != "line_user_id" || body["hasUniqueValue"] != true || body["hubspotDefined"] != false {
		t.Errorf("create echo: %v", body)
	}
	rec, body = call(t, s, "POST", "/crm/v3/properties/contacts",
		`{"name":"line_user_id","label":"Changed","groupName":"hubline","type":"number","fieldType":"number"}`)
	wantStatus(t, rec, http.StatusConflict)
	wantErrorBody(t, body, "OBJECT_ALREADY_EXISTS", "line_user_id")
	rec, body = call(t, s, "GET", "/crm/v3/properties/contacts/line_user_id", "")
	wantStatus(t, rec, http.StatusOK)
	if body["type"] != "string" || body["label"] != "LINE user ID" || !s.UniqueContactProperty("line_user_id") {
		t.Errorf("a 409 changed the property: %v", body)
	}
	rec, body = call(t, s, "GET", "/crm/v3/properties/contacts/firstname", "")
	wantStatus(t, rec, http.StatusOK)
	if body["hubspotDefined"] != true || s.UniqueContactProperty("firstname") {
		t.Errorf("HubSpot's firstname: %v", body)
	}
	rec, body = call(t, s, "GET", "/crm/v3/properties/contacts/line_nothing", "")
	wantStatus(t, rec, http.StatusNotFound)
	wantErrorBody(t, body, "OBJECT_NOT_FOUND", "line_nothing")

	for _, bad := range []struct{ body, msg string }{
		{`{"name":"Bad Name","label":"x","groupName":"hubline","type":"string","fieldType":"text"}`, "is invalid"},
		{`{"name":"x","label":"","groupName":"hubline","type":"string","fieldType":"text"}`, "label is required"},
		{`{"name":"x","label":"x","groupName":"hubline","type":"datetime","fieldType":"text"}`, "not valid for a property of type datetime"},
		{`{"name":"x","label":"x","groupName":"hubline","type":"enumeration","fieldType":"select"}`, "at least one option"},
		{`{"name":"x","label":"x","groupName":"hubline","type":"string","fieldType":"textarea","hasUniqueValue":true}`, "unique values"},
	} {
		rec, body = call(t, s, "POST", "/crm/v3/properties/contacts", bad.body)
		wantStatus(t, rec, http.StatusBadRequest)
		wantErrorBody(t, body, "VALIDATION_ERROR", bad.msg)
	}

	// At most 10 unique custom properties; HubSpot's own do not count.
	for i := 1; i < maxUniqueProperties; i++ {
		rec, _ = call(t, s, "POST", "/crm/v3/properties/contacts",
			fmt.Sprintf(`{"name":"id_%d","label":"ID %d","groupName":"hubline","type":"number","fieldType":"number","hasUniqueValue":true}`, i, i))
		wantStatus(t, rec, http.StatusCreated)
	}
	rec, body = call(t, s, "POST", "/crm/v3/properties/contacts",
		`{"name":"one_too_many","label":"ID 11","groupName":"hubline","type":"string","fieldType":"text","hasUniqueValue":true}`)
	wantStatus(t, rec, http.StatusBadRequest)
	wantErrorBody(t, body, "VALIDATION_ERROR", "maximum of 10 unique")
	rec, _ = call(t, s, "POST", "/crm/v3/properties/contacts",
		`{"name":"not_unique","label":"Plain","groupName":"hubline","type":"string","fieldType":"text"}`)
	wantStatus(t, rec, http.StatusCreated)
	if got := s.PropertyWrites(); got != 1+1+maxUniqueProperties {
		t.Errorf("PropertyWrites = %d", got)
	}
}
