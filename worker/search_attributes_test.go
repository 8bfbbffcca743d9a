package worker

import (
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
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
