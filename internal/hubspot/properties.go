package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Operation names of the contact properties API.
const (
	opReadProperty   = "read contact property"
	opCreateProperty = "create contact property"
	opReadGroup      = "read contact property group"
	opCreateGroup    = "create contact property group"
)

// Property is a CRM property definition as /crm/v3/properties reads and creates it.
type Property struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description,omitempty"`
	GroupName   string `json:"groupName"`
	// Type is string, number, date, datetime, enumeration or bool; FieldType how it is
	// edited (text, select, date, ...).
	Type      string           `json:"type"`
	FieldType string           `json:"fieldType"`
	Options   []PropertyOption `json:"options,omitempty"`
	// HasUniqueValue can only be set when the property is created.
	HasUniqueValue bool `json:"hasUniqueValue"`
	DisplayOrder   int  `json:"displayOrder,omitempty"`
	FormField      bool `json:"formField,omitempty"`
	// HubSpotDefined is read only: HubSpot's own properties.
	HubSpotDefined bool `json:"hubspotDefined,omitempty"`
}

// PropertyOption is one value of an enumeration property.
type PropertyOption struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

// PropertyGroup groups properties on a record's page.
type PropertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder,omitempty"`
}

// ContactProperty reads a contact property definition; found is false when the portal has
// none of that name.
func (c *Client) ContactProperty(ctx context.Context, portalID int64, name string) (p Property, found bool, err error) {
	found, err = c.readDefinition(ctx, portalID, opReadProperty, "/crm/v3/properties/contacts/"+url.PathEscape(name), &p)
	return p, found, err
}

// CreateContactProperty creates a contact property. created is false, without an error,
// when a property of that name exists already (HubSpot's 409): it is left as it is.
func (c *Client) CreateContactProperty(ctx context.Context, portalID int64, p Property) (created bool, err error) {
	p.HubSpotDefined = false
	return c.createDefinition(ctx, portalID, opCreateProperty, "/crm/v3/properties/contacts", p)
}

// ContactPropertyGroup reads a contact property group; found is false when there is none
// of that name.
func (c *Client) ContactPropertyGroup(ctx context.Context, portalID int64, name string) (g PropertyGroup, found bool, err error) {
	found, err = c.readDefinition(ctx, portalID, opReadGroup, "/crm/v3/properties/contacts/groups/"+url.PathEscape(name), &g)
	return g, found, err
}

// CreateContactPropertyGroup creates a contact property group; created is false, without
// an error, when it exists already.
func (c *Client) CreateContactPropertyGroup(ctx context.Context, portalID int64, g PropertyGroup) (created bool, err error) {
	return c.createDefinition(ctx, portalID, opCreateGroup, "/crm/v3/properties/contacts/groups", g)
}

func (c *Client) readDefinition(ctx context.Context, portalID int64, op, path string, out any) (bool, error) {
	resp, err := c.do(ctx, portalID, op, http.MethodGet, path, nil)
	if err != nil {
		return false, err
	}
	if resp.status == http.StatusNotFound {
		return false, nil
	}
	if !ok2xx(resp.status) {
		return false, newAPIError(op, resp.status, resp.body)
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return false, fmt.Errorf("hubspot %s: decoding response: %w", op, err)
	}
	return true, nil
}

func (c *Client) createDefinition(ctx context.Context, portalID int64, op, path string, in any) (bool, error) {
	resp, err := c.do(ctx, portalID, op, http.MethodPost, path, in)
	if err != nil {
		return false, err
	}
	switch {
	case resp.status == http.StatusConflict:
		return false, nil
	case !ok2xx(resp.status):
		return false, newAPIError(op, resp.status, resp.body)
	}
	return true, nil
}
