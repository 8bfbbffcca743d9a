// Package actionreq decodes HubSpot's custom workflow action execution request, strictly:
// the body must be exactly one JSON object, and the envelope's fields are matched by their
// exact names (callbackId, origin.portalId, inputFields, ...), as HubSpot spells them.
//
// encoding/json alone would match keys case-insensitively, so "inputfields" would fill
// InputFields. Here a key that differs from HubSpot's name in any way is an unknown field,
// and unknown fields are ignored (HubSpot may add some later): a request with
// "inputfields" has no inputs, and the action answers its usual missing-input errors.
package actionreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Error codes of a body that is not an execution request (HTTP 400).
const (
	CodeInvalidJSON       = "invalid_json"
	CodeMissingCallbackID = "missing_callback_id"
	CodeInvalidCallbackID = "invalid_callback_id"
)

// MaxCallbackIDLength bounds callbackId (it becomes part of a workflow ID).
const MaxCallbackIDLength = 255

// Error is a body that is not a HubSpot execution request.
type Error struct{ Code, Message string }

func (e *Error) Error() string { return e.Message }

// Request is HubSpot's custom workflow action execution request.
type Request struct {
	CallbackID string
	Origin     struct {
		PortalID                int64
		ActionDefinitionID      int64
		ActionDefinitionVersion int64
	}
	Context struct {
		Source     string
		WorkflowID int64
	}
	Object struct {
		ObjectID   int64
		ObjectType string
		// Properties keeps numbers as json.Number; a null value is present (HubSpot's
		// unset property).
		Properties map[string]any
	}
	InputFields map[string]any

	// Props and Inputs are Object.Properties and InputFields as text: HubSpot sends
	// numbers for number properties and null for unset ones, which are left out.
	Props  map[string]string
	Inputs map[string]string
}

// Decode parses and checks an execution request. It fails with *Error.
func Decode(body []byte) (*Request, error) {
	var r Request
	if err := r.decode(body); err != nil {
		return nil, &Error{CodeInvalidJSON, "request body is not a valid JSON action request: " + err.Error()}
	}
	switch {
	case r.CallbackID == "":
		return nil, &Error{CodeMissingCallbackID, "callbackId is required"}
	case len(r.CallbackID) > MaxCallbackIDLength || strings.IndexFunc(r.CallbackID, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		return nil, &Error{CodeInvalidCallbackID, fmt.Sprintf("callbackId must be at most %d printable characters without spaces", MaxCallbackIDLength)}
	}
	r.Props = flatten(r.Object.Properties)
	r.Inputs = flatten(r.InputFields)
	return &r, nil
}

// object is one JSON object's members by exact name.
type object map[string]json.RawMessage

// decodeObject reads raw (an object or null) into o. json.Unmarshal also refuses anything
// after the value but whitespace, so "{...}{...}" and "{...} garbage" fail here.
func decodeObject(raw []byte, o *object) error {
	if err := json.Unmarshal(raw, o); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errors.New("not a JSON object")
		}
		return err
	}
	return nil
}

// field decodes member name, when present, into dst.
func (o object) field(path, name string, dst any) error {
	raw, ok := o[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s%s: %w", path, name, err)
	}
	return nil
}

// sub decodes member name, when present, as an object.
func (o object) sub(path, name string) (object, error) {
	var s object
	if raw, ok := o[name]; ok {
		if err := decodeObject(raw, &s); err != nil {
			return nil, fmt.Errorf("%s%s: %w", path, name, err)
		}
	}
	return s, nil
}

// values decodes member name, when present, as an object of any values, numbers kept as
// written.
func (o object) values(path, name string) (map[string]any, error) {
	raw, ok := o[name]
	if !ok {
		return nil, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			err = errors.New("not a JSON object")
		}
		return nil, fmt.Errorf("%s%s: %w", path, name, err)
	}
	return m, nil
}

func (r *Request) decode(body []byte) error {
	var top object
	if err := decodeObject(body, &top); err != nil {
		return err
	}
	origin, err := top.sub("", "origin")
	if err != nil {
		return err
	}
	ctx, err := top.sub("", "context")
	if err != nil {
		return err
	}
	obj, err := top.sub("", "object")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		o          object
		path, name string
		dst        any
	}{
		{top, "", "callbackId", &r.CallbackID},
		{origin, "origin.", "portalId", &r.Origin.PortalID},
		{origin, "origin.", "actionDefinitionId", &r.Origin.ActionDefinitionID},
		{origin, "origin.", "actionDefinitionVersion", &r.Origin.ActionDefinitionVersion},
		{ctx, "context.", "source", &r.Context.Source},
		{ctx, "context.", "workflowId", &r.Context.WorkflowID},
		{obj, "object.", "objectId", &r.Object.ObjectID},
		{obj, "object.", "objectType", &r.Object.ObjectType},
	} {
		if err := f.o.field(f.path, f.name, f.dst); err != nil {
			return err
		}
	}
	if r.Object.Properties, err = obj.values("object.", "properties"); err != nil {
		return err
	}
	r.InputFields, err = top.values("", "inputFields")
	return err
}

func flatten(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			out[k] = strconv.FormatBool(v)
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out
}
