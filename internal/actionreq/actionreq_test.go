package actionreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"testing"
)

const envelope = `{"callbackId":"ap-102670506-56776413549-7-0",
 "origin":{"portalId":102670506,"actionDefinitionId":10646377,"actionDefinitionVersion":1},
 "context":{"source":"WORKFLOWS","workflowId":192814114},
 "object":{"objectId":904,"objectType":"CONTACT","properties":{"firstname":"Aiko","age":42,"vip":true,"gone":null}},
 "inputFields":{"line_user_id":"U4af4980629aaaaaaaaaaaaaaaaaaaaaa","message_1":"Hello {{contact.firstname}}","n":1.50}}`

func TestDecodeHubSpotsEnvelope(t *testing.T) {
	r, err := Decode([]byte(envelope))
	if err != nil {
		t.Fatal(err)
	}
	if r.CallbackID != "ap-102670506-56776413549-7-0" || r.Origin.PortalID != 102670506 || r.Origin.ActionDefinitionID != 10646377 ||
		r.Origin.ActionDefinitionVersion != 1 || r.Context.Source != "WORKFLOWS" || r.Context.WorkflowID != 192814114 ||
		r.Object.ObjectID != 904 || r.Object.ObjectType != "CONTACT" {
		t.Fatalf("envelope: %+v", r)
	}
	if want := map[string]string{"firstname": "Aiko", "age": "42", "vip": "true"}; !maps.Equal(r.Props, want) {
		t.Errorf("props %v, want %v", r.Props, want)
	}
	if _, ok := r.Object.Properties["gone"]; !ok {
		t.Error("a null property must stay present in Object.Properties")
	}
	if r.Inputs["n"] != "1.50" || r.Inputs["message_1"] != "Hello {{contact.firstname}}" {
		t.Errorf("inputs %v", r.Inputs)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       string // "" decodes
		inputs     int    // inputs decoded
	}{
		{"whitespace around", " \n" + envelope + "\r\n\t ", "", 3},
		{"two objects", envelope + envelope, CodeInvalidJSON, 0},
		{"garbage after", envelope + " garbage", CodeInvalidJSON, 0},
		{"wrong-case inputFields is unknown", `{"callbackId":"a","inputfields":{"message_1":"x"}}`, "", 0},
		{"wrong-case callbackId is unknown", `{"CallbackId":"a"}`, CodeMissingCallbackID, 0},
		{"unknown fields ignored", `{"callbackId":"a","future":{"x":[1,{}]},"origin":{"new":1},"inputFields":{"a":"b"}}`, "", 1},
		{"null members", `{"callbackId":"a","origin":null,"context":null,"object":null,"inputFields":null}`, "", 0},
		{"null body", `null`, CodeMissingCallbackID, 0},
		{"array body", `[]`, CodeInvalidJSON, 0},
		{"string body", `"callbackId"`, CodeInvalidJSON, 0},
		{"empty body", ``, CodeInvalidJSON, 0},
		{"object a number", `{"callbackId":"a","object":1}`, CodeInvalidJSON, 0},
		{"properties an array", `{"callbackId":"a","object":{"properties":[]}}`, CodeInvalidJSON, 0},
		{"objectId fractional", `{"callbackId":"a","object":{"objectId":1.5}}`, CodeInvalidJSON, 0},
		{"callbackId with a space", `{"callbackId":"a b"}`, CodeInvalidCallbackID, 0},
		{"callbackId with a control", `{"callbackId":"a\u0007"}`, CodeInvalidCallbackID, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decode([]byte(tc.body))
			var de *Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code == "" && len(r.Inputs) != tc.inputs:
				t.Fatalf("inputs %v, want %d", r.Inputs, tc.inputs)
			case tc.code != "" && (!errors.As(err, &de) || de.Code != tc.code):
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
}

// FuzzDecode: Decode never panics, accepts only a single JSON object, reads the envelope by
// exact field names only (what a case-sensitive decoder finds), and refuses data appended
// after an accepted body.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(envelope))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Decode(body)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not an *Error", err)
			}
			switch de.Code {
			case CodeInvalidJSON, CodeMissingCallbackID, CodeInvalidCallbackID:
			default:
				t.Fatalf("unknown code %q", de.Code)
			}
			if json.Valid(body) && de.Code == CodeInvalidJSON && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
				// A valid object is refused as invalid_json only for a member of the wrong type.
				if _, rerr := exactly(body); rerr == nil {
					t.Fatalf("valid object refused: %v", err)
				}
			}
			return
		}
		if !json.Valid(body) {
			t.Fatal("accepted a body that is not exactly one JSON value")
		}
		if r.CallbackID == "" || len(r.CallbackID) > MaxCallbackIDLength {
			t.Fatalf("callbackId %q accepted", r.CallbackID)
		}
		ref, err := exactly(body)
		if err != nil {
			t.Fatalf("accepted, but a case-sensitive decoder fails: %v", err)
		}
		if ref.CallbackID != r.CallbackID || ref.PortalID != r.Origin.PortalID || ref.ObjectID != r.Object.ObjectID {
			t.Fatalf("envelope differs from the exact-name reading: %+v vs %+v", r, ref)
		}
		if len(r.InputFields) != len(ref.Inputs) {
			t.Fatalf("inputs %v, exact-name reading %v", r.InputFields, ref.Inputs)
		}
		for k := range r.Inputs {
			if _, ok := ref.Inputs[k]; !ok {
				t.Fatalf("input %q is not an exact key of inputFields", k)
			}
		}
		for _, tail := range []string{"{}", "x", ",", `"`, "0"} {
			if _, err := Decode(append(bytes.Clone(body), tail...)); err == nil {
				t.Fatalf("accepted the body followed by %q", tail)
			}
		}
		if _, err := Decode(append(bytes.Clone(body), " \n\t\r"...)); err != nil {
			t.Fatalf("trailing whitespace refused: %v", err)
		}
	})
}

type exactFields struct {
	CallbackID string
	PortalID   int64
	ObjectID   int64
	Inputs     map[string]any
}

// exactly reads the envelope through generic maps, whose keys match exactly by
// construction, checking every member's type as Decode must.
func exactly(body []byte) (exactFields, error) {
	var top map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return exactFields{}, err
	}
	var errs []error
	obj := func(m map[string]any, k string) map[string]any {
		v, ok := m[k]
		if !ok || v == nil {
			return nil
		}
		o, isObj := v.(map[string]any)
		if !isObj {
			errs = append(errs, errors.New(k+" is not an object"))
		}
		return o
	}
	str := func(m map[string]any, k string) string {
		v, ok := m[k]
		if !ok || v == nil {
			return ""
		}
		s, isStr := v.(string)
		if !isStr {
			errs = append(errs, errors.New(k+" is not a string"))
		}
		return s
	}
	num := func(m map[string]any, k string) int64 {
		v, ok := m[k]
		if !ok || v == nil {
			return 0
		}
		n, isNum := v.(json.Number)
		if !isNum {
			errs = append(errs, errors.New(k+" is not a number"))
			return 0
		}
		i, err := n.Int64()
		if err != nil {
			errs = append(errs, err)
		}
		return i
	}
	origin, ctx, object := obj(top, "origin"), obj(top, "context"), obj(top, "object")
	e := exactFields{CallbackID: str(top, "callbackId"), PortalID: num(origin, "portalId"), ObjectID: num(object, "objectId"),
		Inputs: obj(top, "inputFields")}
	num(origin, "actionDefinitionId")
	num(origin, "actionDefinitionVersion")
	str(ctx, "source")
	num(ctx, "workflowId")
	str(object, "objectType")
	obj(object, "properties")
	return e, errors.Join(errs...)
}
