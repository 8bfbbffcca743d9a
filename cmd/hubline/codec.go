package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/codec"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/starter"
)

// maxCodecBody bounds one decode request: a history event's payloads, each at most 2 MB.
const maxCodecBody = 16 << 20

// runCodec serves the codec endpoint the Temporal UI (TEMPORAL_CODEC_ENDPOINT) and the
// temporal CLI (--codec-endpoint) call to show payloads encrypted with HUBLINE_PAYLOAD_KEY,
// and to encrypt what an operator sends from the UI (signals, workflow inputs).
func runCodec(ctx context.Context, cfg *config.Config, _ io.Writer) error {
	if cfg.PayloadKey == nil {
		return errors.New("HUBLINE_PAYLOAD_KEY is unset: set the key the worker and starter encrypt with")
	}
	log, err := logging.New(false, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cd, err := codec.New(cfg.PayloadKey)
	if err != nil {
		return fmt.Errorf("HUBLINE_PAYLOAD_KEY: %w", err)
	}
	l, err := net.Listen("tcp", cfg.CodecAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (HUBLINE_CODEC_ADDR): %w", cfg.CodecAddr, err)
	}
	log.Info("codec listening", zap.String("addr", l.Addr().String()), zap.String("ui_origin", cfg.CodecUIOrigin),
		zap.Bool("token_required", cfg.CodecToken != ""), zap.String("key_id", cd.KeyID()))
	return starter.Serve(ctx, l, codecHandler(cd, cfg.CodecUIOrigin, cfg.CodecToken, log), cfg.ShutdownTimeout, log)
}

// codecHandler answers POST .../decode and .../encode (Temporal's remote codec protocol; the
// UI keeps any path prefix of its endpoint) for pages of uiOrigin and, when token is set,
// only with Authorization: Bearer <token>. Encoding gives nobody more than Temporal access
// already does: the worker also accepts unencrypted payloads. Payload contents are never
// logged.
func codecHandler(cd converter.PayloadCodec, uiOrigin, token string, log *zap.Logger) http.Handler {
	codecs := converter.NewPayloadCodecHTTPHandler(cd)
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", uiOrigin)
		// Authorization(-Extras) carry the UI user's tokens with TEMPORAL_CODEC_PASS_ACCESS_TOKEN.
		h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization, Authorization-Extras")
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Vary", "Origin")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fail := func(status int, code, msg string) {
			log.Warn("codec request refused", zap.Int("status", status), zap.String("path", r.URL.Path),
				zap.String("remote", r.RemoteAddr))
			starter.WriteError(w, status, code, msg)
		}
		switch {
		case !strings.HasSuffix(r.URL.Path, "/decode") && !strings.HasSuffix(r.URL.Path, "/encode"):
			fail(http.StatusNotFound, "not_found", "hubline codec serves POST /decode and /encode")
			return
		case r.Method != http.MethodPost:
			fail(http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
			return
		case token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1:
			fail(http.StatusUnauthorized, "unauthorized", "Authorization: Bearer <HUBLINE_CODEC_TOKEN> required")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxCodecBody)
		codecs.ServeHTTP(w, r)
		log.Debug("codec request", zap.String("path", r.URL.Path), zap.String("namespace", r.Header.Get("X-Namespace")),
			zap.String("remote", r.RemoteAddr))
	})
}
