package config

import (
	"strings"
	"testing"
)

func TestTimelineMode(t *testing.T) {
	for _, tc := range []struct {
		env     []string
		want    string
		loadErr string
		modeErr string
	}{
		{nil, "notes", "", ""},
		{[]string{"HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID=1001"}, "events", "", ""},
		{[]string{"HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID=1001", "HUBLINE_TIMELINE=notes"}, "notes", "", ""},
		{[]string{"HUBLINE_TIMELINE=OFF"}, "off", "", ""},
		{[]string{"HUBLINE_TIMELINE= "}, "notes", "", ""},
		{[]string{"HUBLINE_TIMELINE=events", "HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID=1001"}, "events", "", ""},
		{[]string{"HUBLINE_TIMELINE=events"}, "", "", "HUBLINE_TIMELINE=events needs HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID"},
		{[]string{"HUBLINE_TIMELINE=timeline"}, "", `HUBLINE_TIMELINE="timeline": want notes, events or off`, ""},
	} {
		c, err := Load(tc.env)
		if tc.loadErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.loadErr) {
				t.Errorf("%v: Load error %v, want %q", tc.env, err, tc.loadErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		got, err := c.TimelineMode()
		if tc.modeErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.modeErr) {
				t.Errorf("%v: TimelineMode error %v, want %q", tc.env, err, tc.modeErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: TimelineMode = %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
}
