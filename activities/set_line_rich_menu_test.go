package activities_test

import (
	"strings"
	"testing"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/hubspotsandbox"
)

// A rich menu change is recorded as a short note: what changed, never "delivered".
func TestRichMenuNote(t *testing.T) {
	const menu = "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"
	for _, tc := range []struct {
		name, state, code, menu string
		want, miss              []string
	}{
		{"linked", "SUCCESS", "", menu,
			[]string{"Set LINE Rich Menu / LINEリッチメニュー設定", "rich menu set / リッチメニューを設定済み", "Rich menu / リッチメニュー: " + menu, "LINE account / LINEアカウント: 2", "[hubline-rm-1]"},
			[]string{"delivered", "配信済み", "Messages"}},
		{"unlinked", "SUCCESS", "", "",
			[]string{"rich menu unlinked: the account&#39;s default menu shows", "[hubline-rm-1]"},
			[]string{"delivered", "Rich menu / リッチメニュー:"}},
		{"unknown menu", "FAIL_CONTINUE", "unknown_rich_menu", menu,
			[]string{"failed / 失敗 (error code unknown_rich_menu)", "Rich menu / リッチメニュー: " + menu},
			[]string{"rich menu set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newNoteRig(t, hubspotsandbox.Options{}, activities.TimelineNotes)
			in := activities.TimelineInput{PortalID: 1, EventID: "hubline-rm-1", ObjectID: 904, Timestamp: noteTime,
				Tokens: map[string]string{"action": "set_line_rich_menu", "status": tc.state, "error_code": tc.code,
					"line_account": "2", "rich_menu_id": tc.menu}}
			if err := r.run(t, "CreateTimelineEvent", in); err != nil {
				t.Fatal(err)
			}
			notes := r.box.Notes()
			if len(notes) != 1 {
				t.Fatalf("%d notes", len(notes))
			}
			for _, w := range tc.want {
				if !strings.Contains(notes[0].Body, w) {
					t.Errorf("body lacks %q:\n%s", w, notes[0].Body)
				}
			}
			for _, m := range tc.miss {
				if strings.Contains(notes[0].Body, m) {
					t.Errorf("body has %q:\n%s", m, notes[0].Body)
				}
			}
		})
	}
}
