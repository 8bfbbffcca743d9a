package accounts

import (
	"context"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/store"
)

// FromStore lists st's accounts for Options.Stored. A stored push rate of 0 takes
// LINE_PUSH_RATE_<n>, else the default; LINE_CUSTOM_AGGREGATION_UNITS_<n> applies as to
// environment accounts.
func FromStore(st *store.Store, cfg *config.Config) func(ctx context.Context) ([]Account, error) {
	return func(ctx context.Context) ([]Account, error) {
		list, err := st.Accounts(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]Account, 0, len(list))
		for _, a := range list {
			rate := a.PushRate
			if rate <= 0 {
				rate = cfg.Queue.PushRate(a.Number)
			}
			out = append(out, Account{
				Number: a.Number, PortalID: a.PortalID, Name: a.Name, AccessToken: a.AccessToken,
				ChannelSecret: a.ChannelSecret, PushRate: rate, AggregationUnits: cfg.AggregationUnits(a.Number), Stored: true,
			})
		}
		return out, nil
	}
}
