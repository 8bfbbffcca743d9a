package main

import (
	"context"
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
	logEffectiveConfig(log, "codec")
	cd, err := payloadCodec(cfg)
	if err != nil {
		return fmt.Errorf("HUBLINE_PAYLOAD_KEY: %w", err)
	}
	l, err := net.Listen("tcp", cfg.CodecAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (HUBLINE_CODEC_ADDR): %w", cfg.CodecAddr, err)
	}
	access, err := codecAccess(cfg.CodecAllowedHosts, cfg.CodecUIOrigin, cfg.CodecAddr)
	if err != nil {
		return err
	}
	access.Token = cfg.CodecToken
	if cfg.CodecJWKSURL != "" {
		if access.JWT, err = codec.NewJWTVerifier(codec.JWTConfig{
			JWKSURL: cfg.CodecJWKSURL, Issuer: cfg.CodecJWTIssuer, Audience: cfg.CodecJWTAudience,
		}); err != nil {
			return fmt.Errorf("HUBLINE_CODEC_JWKS_URL: %w", err)
		}
	}
	log.Info("codec listening", zap.String("addr", l.Addr().String()), zap.String("ui_origin", cfg.CodecUIOrigin),
		zap.String("allowed_hosts", access.Hosts.String()), zap.Bool("token_accepted", cfg.CodecToken != ""),
		zap.Bool("jwt_accepted", access.JWT != nil), zap.String("key_id", cd.KeyID()), zap.Strings("old_key_ids", cd.OldKeyIDs()))
	return starter.Serve(ctx, l, codecHandler(cd, access, log), cfg.ShutdownTimeout, log)
}

// codecAccess is the codec's access check for pages of uiOrigin and the Host names of
// allowedHosts (HUBLINE_CODEC_ALLOWED_HOSTS), by default those of listenAddr.
func codecAccess(allowedHosts, uiOrigin, listenAddr string) (*codec.Access, error) {
	hosts := codec.DefaultHosts(listenAddr)
	if allowedHosts != "" {
		var err error
		if hosts, err = codec.ParseHosts(allowedHosts); err != nil {
			return nil, fmt.Errorf("HUBLINE_CODEC_ALLOWED_HOSTS: %w", err)
		}
	}
	return &codec.Access{UIOrigin: uiOrigin, Hosts: hosts}, nil
}

// codecHandler answers POST .../decode and .../encode (Temporal's remote codec protocol; the
// UI keeps any path prefix of its endpoint) for requests access lets through: the right Host,
// no Origin but the UI's, and the credential it asks for. Encoding gives nobody more than
// Temporal access already does: the worker also accepts unencrypted payloads. Payload
// contents are never logged.
func codecHandler(cd converter.PayloadCodec, access *codec.Access, log *zap.Logger) http.Handler {
	codecs := converter.NewPayloadCodecHTTPHandler(cd)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", access.UIOrigin)
		// Authorization(-Extras) carry the UI user's tokens with TEMPORAL_CODEC_PASS_ACCESS_TOKEN.
		h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization, Authorization-Extras")
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Vary", "Origin")
		fail := func(status int, code, msg string) {
			log.Warn("codec request refused", zap.Int("status", status), zap.String("code", code),
				zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr), zap.String("host", truncate(r.Host, 100)),
				zap.String("origin", truncate(r.Header.Get("Origin"), 100)))
			starter.WriteError(w, status, code, msg)
		}
		// Before anything else, preflights included: a rebinding page or a foreign one
		// gets nothing, not even a decode it cannot read.
		if ref := access.CheckSource(r); ref != nil {
			fail(ref.Status, ref.Code, ref.Message)
			return
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		switch {
		case !strings.HasSuffix(r.URL.Path, "/decode") && !strings.HasSuffix(r.URL.Path, "/encode"):
			fail(http.StatusNotFound, "not_found", "hubline codec serves POST /decode and /encode")
			return
		case r.Method != http.MethodPost:
			fail(http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
			return
		}
		if ref := access.Authorize(r.Context(), r); ref != nil {
			fail(ref.Status, ref.Code, ref.Message)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxCodecBody)
		codecs.ServeHTTP(w, r)
		log.Debug("codec request", zap.String("path", r.URL.Path), zap.String("namespace", r.Header.Get("X-Namespace")),
			zap.String("remote", r.RemoteAddr))
	})
}

// truncate keeps caller-supplied header values short in logs.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
