package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubline/hubline/internal/codec"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/devserver"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/temporalconn"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/internal/testpki"
	"github.com/hubline/hubline/workflows"
)

// payloadKeyB is the key payloadKey is rotated to.
const payloadKeyB = "YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk="

// TestTemporalTLSAndPayloadKeyRotation runs the worker, starter, queue and codec commands
// against the embedded Temporal server serving mutual TLS (and recording the API key), with
// the TEMPORAL_TLS_* settings: they connect with the right client certificate and stop with a
// message naming the setting without it. Then HUBLINE_PAYLOAD_KEY is rotated: processes
// restarted with key B and HUBLINE_PAYLOAD_OLD_KEYS=A finish a run written under A, replay
// the queue workflow's history written under A, find its batches and decode its payloads.
func TestTemporalTLSAndPayloadKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and processes")
	}
	p := testpki.New(t)
	var mu sync.Mutex
	auth := map[string]bool{}
	record := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			mu.Lock()
			for _, v := range md.Get("authorization") {
				auth[v] = true
			}
			mu.Unlock()
		}
		return h(ctx, req)
	}
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	srv, err := devserver.Start(context.Background(), devserver.Config{
		Address: addr, SearchAttributes: workflows.SearchAttributes(),
		TLS: &devserver.TLS{CertFile: p.ServerCert, KeyFile: p.ServerKey, ClientCAFile: p.CA,
			CAFile: p.CA, ServerName: testpki.ServerName, ClientCertFile: p.ClientCert, ClientKeyFile: p.ClientKey},
		ServerOptions: []temporal.ServerOption{temporal.WithChainedFrontendGrpcInterceptors(record)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	lineBox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{"tls-line-token": "account 1"}})
	lineSrv := httptest.NewServer(lineBox)
	defer lineSrv.Close()
	hsBox := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "tls-hubspot-token"})
	hsSrv := httptest.NewServer(hsBox)
	defer hsSrv.Close()

	httpAddr := freeAddr(t)
	base := []string{
		"TEMPORAL_ADDRESS=" + addr, "TEMPORAL_NAMESPACE=default", "HUBLINE_HTTP_ADDR=" + httpAddr,
		"HUBLINE_PUBLIC_URL=https://hubline.example.com", "HUBSPOT_CLIENT_SECRET=tls-secret",
		"HUBSPOT_ACCESS_TOKEN=tls-hubspot-token", "HUBSPOT_API_BASE_URL=" + hsSrv.URL, "HUBLINE_TIMELINE=off",
		"LINE_CHANNEL_ACCESS_TOKEN=tls-line-token", "LINE_API_BASE_URL=" + lineSrv.URL, "HUBLINE_SHUTDOWN_TIMEOUT=5s",
		"TEMPORAL_TLS_CERT=", "TEMPORAL_TLS_KEY=", "TEMPORAL_TLS_CA=", "TEMPORAL_TLS_SERVER_NAME=", "TEMPORAL_API_KEY=",
		"HUBLINE_PAYLOAD_OLD_KEYS=",
	}
	with := func(env []string, more ...string) []string { return append(append([]string{}, env...), more...) }
	tlsEnv := with(base, "TEMPORAL_TLS_CERT="+p.ClientCert, "TEMPORAL_TLS_KEY="+p.ClientKey, "TEMPORAL_TLS_CA="+p.CA,
		"TEMPORAL_TLS_SERVER_NAME="+testpki.ServerName, "TEMPORAL_API_KEY=tls-api-key")

	// Refusals, each naming the setting to fix.
	for _, c := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"worker"}, with(base, "TEMPORAL_TLS_CA="+p.CA), "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"},
		{[]string{"starter"}, with(tlsEnv, "TEMPORAL_TLS_CA="+p.OtherCA), "not signed by a CA in TEMPORAL_TLS_CA"},
		{[]string{"worker"}, base, "the server may require TLS"},
		{[]string{"queue", "status"}, with(tlsEnv, "TEMPORAL_TLS_CA="+p.CA+".missing"), "TEMPORAL_TLS_CA: open " + p.CA + ".missing"},
		{[]string{"starter"}, with(tlsEnv, "TEMPORAL_TLS_KEY="), "TEMPORAL_TLS_CERT needs TEMPORAL_TLS_KEY"},
	} {
		out, err := runCommand(c.env, c.args...)
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: %v, want an error saying %q:\n%s", c.args, err, c.want, out)
		}
		if strings.Contains(string(out), "tls-api-key") {
			t.Errorf("%v: output contains the API key", c.args)
		}
	}

	send := func(route, callbackID string) {
		t.Helper()
		body, _ := json.Marshal(testenv.Action(callbackID, map[string]string{
			"line_user_id": testenv.UserID, "message_1": "Hello {{contact.firstname}}",
		}, map[string]string{"firstname": "Aiko"}))
		req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+route, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Signature-Version", "v2")
		req.Header.Set("X-HubSpot-Signature", hubspot.SignV2("tls-secret", http.MethodPost, "https://hubline.example.com"+route, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s answered %d", route, callbackID, resp.StatusCode)
		}
	}
	callbacks := func(n int) {
		t.Helper()
		testenv.Eventually(t, strconv.Itoa(n)+" callbacks", 60*time.Second, func() bool { return len(hsBox.Callbacks()) >= n })
		for _, cb := range hsBox.Callbacks() {
			if cb.OutputFields["hs_execution_state"] != "SUCCESS" {
				t.Fatalf("callbacks %+v", hsBox.Callbacks())
			}
		}
	}

	// Key A, over mutual TLS with the API key.
	envA := with(tlsEnv, "HUBLINE_PAYLOAD_KEY="+payloadKey)
	worker, wlogs := startCommand(t, "worker", envA, "worker polling")
	starter, slogs := startCommand(t, "starter", envA, "starter listening")
	send("/actions/send-line-message", "ap-tls-1")
	send("/actions/send-line-message-queue", "ap-tls-q1")
	callbacks(2)
	stopCommand(t, worker, wlogs)
	send("/actions/send-line-message", "ap-tls-2") // written under A; no worker runs it yet
	stopCommand(t, starter, slogs)
	mu.Lock()
	sent := auth["Bearer tls-api-key"]
	mu.Unlock()
	if !sent {
		t.Errorf("TEMPORAL_API_KEY was not sent")
	}

	// Key B, A only decrypts: the new worker runs what A's processes wrote.
	envB := with(tlsEnv, "HUBLINE_PAYLOAD_KEY="+payloadKeyB, "HUBLINE_PAYLOAD_OLD_KEYS="+payloadKey)
	worker, wlogs = startCommand(t, "worker", envB, "worker polling")
	callbacks(3)
	starter, slogs = startCommand(t, "starter", envB, "starter listening")
	send("/actions/send-line-message-queue", "ap-tls-q2") // the queue workflow's history is under A
	callbacks(4)
	if n := lineBox.DeliveredTo(testenv.UserID); n != 4 {
		t.Errorf("%d deliveries, want 4", n)
	}
	for _, key := range []string{"ap-tls-q1", "ap-tls-q2"} {
		if out, err := runCommand(envB, "queue", "find", key); err != nil || !strings.Contains(string(out), key) {
			t.Errorf("queue find %s with key B and old key A: %v\n%s", key, err, out)
		}
	}
	if out, err := runCommand(with(envB, "HUBLINE_PAYLOAD_OLD_KEYS="), "queue", "find", "ap-tls-q1"); err == nil {
		t.Errorf("queue find decoded a memo written under key A without it: %s", out)
	}

	// The codec decodes history written under A with B and old A.
	o := client.Options{HostPort: addr, Namespace: "default"}
	if err := temporalconn.Apply(&o, config.TemporalConn{CertFile: p.ClientCert, KeyFile: p.ClientKey, CAFile: p.CA}); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ev, err := c.GetWorkflowHistory(context.Background(), "hubspot-ap-tls-1", "", false, 0).Next()
	if err != nil {
		t.Fatal(err)
	}
	in := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
	if string(in.GetMetadata()["encoding"]) != codec.Encoding {
		t.Fatalf("input not encrypted: %v", in)
	}
	codecAddr := freeAddr(t)
	codecCmd, clogs := startCommand(t, "codec", with(envB, "HUBLINE_CODEC_ADDR="+codecAddr), "codec listening")
	payloads, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{in}})
	resp, err := http.Post("http://"+codecAddr+"/decode", "application/json", bytes.NewReader(payloads))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(answer, &decoded); err != nil || resp.StatusCode != 200 || len(decoded.Payloads) != 1 ||
		!bytes.Contains(decoded.Payloads[0].GetData(), []byte(`"text":"Hello Aiko"`)) {
		t.Errorf("codec with key B and old key A answered %d: %s\n%s", resp.StatusCode, answer, clogs.String())
	}
	stopCommand(t, codecCmd, clogs)
	stopCommand(t, starter, slogs)
	stopCommand(t, worker, wlogs)
	if all := wlogs.String() + slogs.String() + clogs.String(); strings.Contains(all, "tls-api-key") {
		t.Errorf("logs contain the API key")
	}
}
