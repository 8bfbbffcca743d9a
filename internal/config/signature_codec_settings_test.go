package config

import (
	"strings"
	"testing"
)

func TestSignatureAndCodecSettings(t *testing.T) {
	const jwks = "HUBLINE_CODEC_JWKS_URL=https://idp.example.com/.well-known/jwks.json"
	for _, tc := range []struct {
		name    string
		env     []string
		wantErr string // "" = loads
		check   func(*Config) bool
	}{
		{"defaults", nil, "", func(c *Config) bool {
			return !c.RequireSignatureV3 && c.CodecAllowedHosts == "" && c.CodecJWKSURL == ""
		}},
		{"require v3", []string{"HUBLINE_REQUIRE_SIGNATURE_V3=true"}, "", func(c *Config) bool { return c.RequireSignatureV3 }},
		{"require v3 malformed", []string{"HUBLINE_REQUIRE_SIGNATURE_V3=always"}, "HUBLINE_REQUIRE_SIGNATURE_V3", nil},
		{"allowed hosts", []string{"HUBLINE_CODEC_ALLOWED_HOSTS=codec.example.com, 127.0.0.1:8081"}, "", func(c *Config) bool {
			return c.CodecAllowedHosts == "codec.example.com, 127.0.0.1:8081"
		}},
		{"allowed hosts as a URL", []string{"HUBLINE_CODEC_ALLOWED_HOSTS=https://codec.example.com"}, "HUBLINE_CODEC_ALLOWED_HOSTS", nil},
		{"jwt", []string{jwks, "HUBLINE_CODEC_JWT_ISSUER=https://idp.example.com/", "HUBLINE_CODEC_JWT_AUDIENCE=temporal-ui"}, "", func(c *Config) bool {
			return c.CodecJWKSURL != "" && c.CodecJWTIssuer == "https://idp.example.com/" && c.CodecJWTAudience == "temporal-ui"
		}},
		{"jwks without issuer", []string{jwks, "HUBLINE_CODEC_JWT_AUDIENCE=temporal-ui"}, "HUBLINE_CODEC_JWT_ISSUER", nil},
		{"jwks without audience", []string{jwks, "HUBLINE_CODEC_JWT_ISSUER=https://idp.example.com/"}, "HUBLINE_CODEC_JWT_AUDIENCE", nil},
		{"issuer without jwks", []string{"HUBLINE_CODEC_JWT_ISSUER=https://idp.example.com/"}, "HUBLINE_CODEC_JWKS_URL", nil},
		{"jwks not a URL", []string{"HUBLINE_CODEC_JWKS_URL=idp.example.com/jwks", "HUBLINE_CODEC_JWT_ISSUER=i", "HUBLINE_CODEC_JWT_AUDIENCE=a"}, "HUBLINE_CODEC_JWKS_URL", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.env)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v should name %s", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.check != nil && !tc.check(c):
				t.Fatalf("loaded %+v", c)
			}
		})
	}
}
