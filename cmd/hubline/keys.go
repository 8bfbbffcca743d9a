package main

import (
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/codec"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/store"
)

// secretKeys is HUBLINE_SECRET_KEY (in dev generated when unset) with HUBLINE_SECRET_OLD_KEYS,
// for every store.Open: a process opening the store without the old keys would refuse to
// start, or fail reads, while a rotation is under way.
func secretKeys(cfg *config.Config, generate bool, log *zap.Logger) (*store.Keys, error) {
	keys, err := store.LoadKeys(cfg.SecretKey, cfg.DataDir, generate, log)
	if err != nil {
		return nil, err
	}
	return keys.WithOld(cfg.SecretOldKeys)
}

// payloadCodec is HUBLINE_PAYLOAD_KEY with HUBLINE_PAYLOAD_OLD_KEYS (cfg.PayloadKey must be set).
func payloadCodec(cfg *config.Config) (*codec.AESGCM, error) {
	return codec.New(cfg.PayloadKey, cfg.PayloadOldKeys...)
}
