package starter

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/accounts"
)

// optionsRequest is what HubSpot POSTs to an input field's optionsUrl when the workflow
// editor opens the field's dropdown.
type optionsRequest struct {
	Origin struct {
		PortalID                int64 `json:"portalId"`
		ActionDefinitionID      int64 `json:"actionDefinitionId"`
		ActionDefinitionVersion int64 `json:"actionDefinitionVersion"`
	} `json:"origin"`
	// PortalID: some HubSpot surfaces send the portal at the top level.
	PortalID       int64  `json:"portalId"`
	InputFieldName string `json:"inputFieldName"`
	FetchOptions   struct {
		Q string `json:"q"`
	} `json:"fetchOptions"`
}

type option struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// lineAccountOptions answers the line_account dropdown (the action definitions' optionsUrl)
// with the requesting portal's accounts only: value is the account number, label its name.
func (s *Server) lineAccountOptions(c *gin.Context) {
	const action = "options_line_account"
	var r optionsRequest
	dec := json.NewDecoder(bytes.NewReader(c.MustGet(bodyKey).([]byte)))
	if err := dec.Decode(&r); err != nil {
		abortError(c, http.StatusBadRequest, "invalid_json", "request body is not a valid JSON options request: "+err.Error())
		return
	}
	portal := r.Origin.PortalID
	if portal == 0 {
		portal = r.PortalID
	}
	if portal <= 0 {
		abortError(c, http.StatusBadRequest, "missing_portal_id", "origin.portalId is required")
		return
	}
	japanese := strings.HasPrefix(strings.ToLower(c.GetHeader("Accept-Language")), "ja")
	q := strings.ToLower(strings.TrimSpace(r.FetchOptions.Q))
	opts := []option{}
	s.opts.LineAccounts.Refresh(context.Background())
	for _, a := range s.opts.LineAccounts.ForPortal(context.Background(), portal) {
		o := option{Label: optionLabel(a, japanese), Value: strconv.Itoa(a.Number)}
		if q != "" && !strings.Contains(strings.ToLower(o.Label), q) && o.Value != q {
			continue
		}
		opts = append(opts, o)
	}
	s.requests.WithLabelValues(action, "answered").Inc()
	s.log.Debug("line_account options", zap.Int64("portal_id", portal), zap.Int("options", len(opts)))
	c.JSON(http.StatusOK, gin.H{"options": opts})
}

func optionLabel(a accounts.Account, japanese bool) string {
	if a.Name == "" && japanese {
		return "LINE アカウント " + strconv.Itoa(a.Number)
	}
	return a.Label()
}

// UseLineAccounts sets the accounts line_account resolves against; call it before serving.
func (s *Server) UseLineAccounts(r *accounts.Resolver) { s.opts.LineAccounts = r }
