package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
)

const (
	opCreateContact   = "create contact"
	opUpdateContact   = "update contact"
	opSearchContacts  = "search contacts"
	contactsPath      = "/crm/v3/objects/contacts"
	contactSearchPath = "/crm/v3/objects/contacts/search"
)

// ErrContactNotFound: no contact has that ID (deleted, or merged into another).
var ErrContactNotFound = errors.New("hubspot: contact not found")

// ConflictError is a contact create HubSpot refused because a unique property's value is
// already taken (409). ExistingID is the contact holding it, when HubSpot names it.
type ConflictError struct {
	ExistingID string
	Err        *APIError
}

func (e *ConflictError) Error() string {
	if e.ExistingID != "" {
		return fmt.Sprintf("hubspot %s: HTTP 409: a unique property's value is already on contact %s", opCreateContact, e.ExistingID)
	}
	return fmt.Sprintf("hubspot %s: HTTP 409: a unique property's value is already on another contact", opCreateContact)
}

func (e *ConflictError) Unwrap() error { return e.Err }

var existingIDRE = regexp.MustCompile(`Existing ID: ?([0-9]+)`)

// contactError is newAPIError without HubSpot's message: for contact writes it may quote
// property values (LINE user IDs, names), which must not reach logs or workflow histories.
func contactError(op string, status int, body []byte) *APIError {
	ae := newAPIError(op, status, body)
	ae.Message = ""
	return ae
}

// CreateContact creates a contact with properties and returns its ID. HubSpot has no
// idempotency key: a create whose answer was lost may have taken effect (see the LINE
// webhook activities for how retries cope). A 409 is a *ConflictError.
func (c *Client) CreateContact(ctx context.Context, portalID int64, properties map[string]string) (string, error) {
	resp, err := c.do(ctx, portalID, opCreateContact, http.MethodPost, contactsPath, map[string]any{"properties": properties})
	if err != nil {
		return "", err
	}
	if resp.status == http.StatusConflict {
		ae := newAPIError(opCreateContact, resp.status, resp.body)
		ce := &ConflictError{Err: contactError(opCreateContact, resp.status, resp.body)}
		if m := existingIDRE.FindStringSubmatch(ae.Message); m != nil {
			ce.ExistingID = m[1]
		}
		return "", ce
	}
	if !ok2xx(resp.status) {
		return "", contactError(opCreateContact, resp.status, resp.body)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("hubspot %s: decoding response: no contact ID", opCreateContact)
	}
	return out.ID, nil
}

// UpdateContact sets properties on contact id. An unknown ID is ErrContactNotFound.
func (c *Client) UpdateContact(ctx context.Context, portalID int64, id string, properties map[string]string) error {
	resp, err := c.do(ctx, portalID, opUpdateContact, http.MethodPatch, contactsPath+"/"+url.PathEscape(id), map[string]any{"properties": properties})
	if err != nil {
		return err
	}
	if resp.status == http.StatusNotFound {
		return fmt.Errorf("%w (contact %s)", ErrContactNotFound, id)
	}
	if !ok2xx(resp.status) {
		return contactError(opUpdateContact, resp.status, resp.body)
	}
	return nil
}

// SearchContactIDs returns the IDs of the contacts whose property equals value (at most
// 100, oldest first). HubSpot's search index is eventually consistent: a contact created
// or changed a few seconds ago may be missing.
func (c *Client) SearchContactIDs(ctx context.Context, portalID int64, property, value string) ([]string, error) {
	req := map[string]any{
		"filterGroups": []map[string]any{{"filters": []map[string]string{{"propertyName": property, "operator": "EQ", "value": value}}}},
		"properties":   []string{property},
		"sorts":        []map[string]string{{"propertyName": "createdate", "direction": "ASCENDING"}},
		"limit":        100,
	}
	resp, err := c.do(ctx, portalID, opSearchContacts, http.MethodPost, contactSearchPath, req)
	if err != nil {
		return nil, err
	}
	if !ok2xx(resp.status) {
		return nil, contactError(opSearchContacts, resp.status, resp.body)
	}
	var page struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	if err := json.Unmarshal(resp.body, &page); err != nil {
		return nil, fmt.Errorf("hubspot %s: decoding response: %w", opSearchContacts, err)
	}
	ids := make([]string, 0, len(page.Results))
	for _, r := range page.Results {
		ids = append(ids, r.ID)
	}
	return ids, nil
}
