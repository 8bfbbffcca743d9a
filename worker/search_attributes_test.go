package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc"

	"github.com/hubline/hubline/workflows"
)

func TestMissingSearchAttributes(t *testing.T) {
	const kw, text = enumspb.INDEXED_VALUE_TYPE_KEYWORD, enumspb.INDEXED_VALUE_TYPE_TEXT
	want := map[string]enumspb.IndexedValueType{"ActionType": kw, "DeliveryStatus": kw, "AnalyticsTag": kw}
	for _, tc := range []struct {
		name     string
		have     map[string]enumspb.IndexedValueType
		contains []string // empty: no error
		absent   []string
	}{
		{"all there (extra ones ignored)", map[string]enumspb.IndexedValueType{"ActionType": kw, "DeliveryStatus": kw, "AnalyticsTag": kw, "Other": text}, nil, nil},
		{"one missing", map[string]enumspb.IndexedValueType{"ActionType": kw, "AnalyticsTag": kw},
			[]string{"namespace ns", "missing search attributes DeliveryStatus (", "--name <name> --type Keyword"}, []string{"ActionType", "wrong type"}},
		{"two missing, sorted", map[string]enumspb.IndexedValueType{"ActionType": kw},
			[]string{"missing search attributes AnalyticsTag, DeliveryStatus"}, nil},
		{"wrong type", map[string]enumspb.IndexedValueType{"ActionType": kw, "DeliveryStatus": text, "AnalyticsTag": kw},
			[]string{"wrong type: DeliveryStatus is Text, want Keyword"}, []string{"missing"}},
		{"none", nil, []string{"ActionType, AnalyticsTag, DeliveryStatus"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := missingSearchAttributes("ns", want, tc.have)
			if len(tc.contains) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q names %q", err, s)
				}
			}
		})
	}
}

// operatorAnswer answers ListSearchAttributes as a server would: with attributes or a
// service error (the SDK's client turns gRPC statuses into these).
type operatorAnswer struct {
	operatorservice.OperatorServiceClient
	attrs map[string]enumspb.IndexedValueType
	err   error
}

func (o operatorAnswer) ListSearchAttributes(context.Context, *operatorservice.ListSearchAttributesRequest, ...grpc.CallOption) (*operatorservice.ListSearchAttributesResponse, error) {
	return &operatorservice.ListSearchAttributesResponse{CustomAttributes: o.attrs}, o.err
}

// Credentials that may not list attributes (Temporal Cloud API keys with a narrow role) leave
// them unverified, which the worker only warns about; any other failure stops it.
func TestCheckSearchAttributesErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ops        operatorAnswer
		unverified bool
		ok         bool
	}{
		{"all registered", operatorAnswer{attrs: workflows.SearchAttributes()}, false, true},
		{"permission denied", operatorAnswer{err: serviceerror.NewPermissionDenied("no", "")}, true, false},
		{"unimplemented", operatorAnswer{err: serviceerror.NewUnimplemented("no")}, true, false},
		{"unavailable", operatorAnswer{err: serviceerror.NewUnavailable("down")}, false, false},
		{"missing", operatorAnswer{attrs: map[string]enumspb.IndexedValueType{}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSearchAttributes(context.Background(), tc.ops, "ns")
			if (err == nil) != tc.ok || errors.Is(err, ErrSearchAttributesUnverified) != tc.unverified {
				t.Fatalf("err %v: want ok %v, unverified %v", err, tc.ok, tc.unverified)
			}
			if err != nil && !strings.Contains(err.Error(), "namespace ns") {
				t.Errorf("error %q does not name the namespace", err)
			}
		})
	}
}
