package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubline/hubline/internal/codec"
)

func TestCodecHandler(t *testing.T) {
	key, err := codec.ParseKey(payloadKey)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := codec.New(key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := converter.GetDefaultDataConverter().ToPayload("Hello Aiko")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := cd.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	if err != nil {
		t.Fatal(err)
	}
	plainBody, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{plain}})
	if err != nil {
		t.Fatal(err)
	}
	const origin = "https://temporal-ui.example.com"
	for _, tc := range []struct {
		name, method, path, auth, token string
		body                            []byte
		status                          int
		decoded                         bool
	}{
		{name: "decode", method: "POST", path: "/decode", body: body, status: 200, decoded: true},
		{name: "token accepted", method: "POST", path: "/decode", token: "s3cret", auth: "Bearer s3cret", body: body, status: 200, decoded: true},
		{name: "token missing", method: "POST", path: "/decode", token: "s3cret", body: body, status: 401},
		{name: "token wrong", method: "POST", path: "/decode", token: "s3cret", auth: "Bearer guess", body: body, status: 401},
		{name: "behind a path prefix", method: "POST", path: "/codec//decode", body: body, status: 200, decoded: true},
		{name: "encode", method: "POST", path: "/encode", body: plainBody, status: 200},
		{name: "other path", method: "POST", path: "/decoder", body: body, status: 404},
		{name: "GET", method: "GET", path: "/decode", status: 405},
		{name: "preflight", method: "OPTIONS", path: "/decode", status: 204},
		{name: "not payloads", method: "POST", path: "/decode", body: []byte("{"), status: 400},
		{name: "too large", method: "POST", path: "/decode", body: bytes.Repeat([]byte(" "), maxCodecBody+1), status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := codecHandler(cd, origin, tc.token, zap.NewNop())
			req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			if !tc.decoded {
				if strings.Contains(rec.Body.String(), "Aiko") {
					t.Fatalf("answer holds the plaintext: %s", rec.Body.String())
				}
				return
			}
			var out commonpb.Payloads
			if err := protojson.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Payloads) != 1 {
				t.Fatalf("answer %s: %v", rec.Body.String(), err)
			}
			var s string
			if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &s); err != nil || s != "Hello Aiko" {
				t.Fatalf("decoded %q, %v", s, err)
			}
		})
	}
}
