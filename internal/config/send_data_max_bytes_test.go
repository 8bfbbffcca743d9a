package config

import (
	"strings"
	"testing"
)

func TestSendDataMaxBytes(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int // 0: refused
	}{
		{"", 1 << 20}, {"1", 1}, {"65536", 65536}, {"1048576", 1 << 20},
		{"0", 0}, {"1048577", 0}, {"-5", 0}, {"1MiB", 0},
	} {
		c, err := Load([]string{"HUBLINE_SEND_DATA_MAX_BYTES=" + tc.value})
		switch {
		case tc.want == 0 && (err == nil || !strings.Contains(err.Error(), "HUBLINE_SEND_DATA_MAX_BYTES")):
			t.Errorf("%q: error %v should name the variable", tc.value, err)
		case tc.want != 0 && err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case tc.want != 0 && c.SendDataMaxBytes != tc.want:
			t.Errorf("%q: got %d, want %d", tc.value, c.SendDataMaxBytes, tc.want)
		}
	}
}
