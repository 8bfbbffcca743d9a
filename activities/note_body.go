package activities

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"unicode/utf8"

	"github.com/hubline/hubline/internal/hubspot"
)

// A delivery note is read by the portal's users on the contact's timeline: English and
// Japanese labels, every value escaped. It lands in the operator's own CRM, so it may say
// what was sent (logs never do).

var actionLabels = map[string]string{
	"send_line_message":       "Send LINE Message / LINEメッセージ送信",
	"send_line_message_v2":    "Send LINE Message (v2) / LINEメッセージ送信 (v2)",
	"send_line_message_queue": "Send LINE Message by Queue / キューでLINEメッセージ送信",
	"send_data":               "Send Data / データ送信",
	"set_line_rich_menu":      "Set LINE Rich Menu / LINEリッチメニュー設定",
}

// noteTruncated ends a body cut to HubSpot's limit.
const noteTruncated = "… (truncated: HubSpot notes hold at most 65,536 characters / 文字数の上限のため以下省略)"

// noteMarker is the per-delivery marker a retried write searches for; brackets keep
// hubline-ap-1 from matching inside hubline-ap-12.
func noteMarker(eventID string) string { return "[" + html.EscapeString(eventID) + "]" }

// outcome describes the delivery's result in both languages.
func outcome(tokens map[string]string) string {
	code := tokens["error_code"]
	switch {
	case tokens["status"] == "SUCCESS" && tokens["action"] == "send_data":
		return "sent / 送信済み"
	case tokens["status"] == "SUCCESS" && tokens["action"] == "set_line_rich_menu" && tokens["rich_menu_id"] == "":
		return "rich menu unlinked: the account's default menu shows / リッチメニューの設定を解除（デフォルトメニューを表示）"
	case tokens["status"] == "SUCCESS" && tokens["action"] == "set_line_rich_menu":
		return "rich menu set / リッチメニューを設定済み"
	case tokens["status"] == "SUCCESS":
		return "delivered / 配信済み"
	case code == "expired":
		return "expired: not sent before the action's block expiration / 期限切れ（未送信） (error code expired)"
	case code == "cancelled":
		return "cancelled by an operator / オペレーターが取り消し (error code cancelled)"
	case code == "delivery_unknown":
		return "delivery unknown: LINE may have received it / 配信不明 (error code delivery_unknown)"
	case code != "":
		return "failed / 失敗 (error code " + code + ")"
	default:
		return tokens["status"]
	}
}

// noteMessages turns the rendered LINE message objects into display lines: the text of
// text messages, else the type and alt text.
func noteMessages(extra map[string]any) []string {
	raw, ok := extra["messages"]
	if !ok || raw == nil {
		return nil
	}
	b, err := json.Marshal(raw) // []json.RawMessage in-process, []any after Temporal
	if err != nil {
		return nil
	}
	var msgs []map[string]any
	if json.Unmarshal(b, &msgs) != nil {
		return nil
	}
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		typ, _ := m["type"].(string)
		if text, ok := m["text"].(string); ok && (typ == "text" || typ == "textV2") {
			out = append(out, text)
			continue
		}
		line := "(" + typ + ")"
		if alt, ok := m["altText"].(string); ok && alt != "" {
			line += " " + alt
		}
		out = append(out, line)
	}
	return out
}

// noteBody renders a delivery as HTML of at most hubspot.MaxNoteBody characters; when
// the messages are too long they are cut and marked, and the marker line always stays.
func noteBody(in TimelineInput) string {
	t := in.Tokens
	var head strings.Builder
	label := actionLabels[t["action"]]
	if label == "" {
		label = t["action"]
	}
	fmt.Fprintf(&head, "<p><strong>hubline: %s</strong></p><ul>", html.EscapeString(label))
	item := func(name, v string) {
		if v != "" {
			fmt.Fprintf(&head, "<li>%s: %s</li>", name, html.EscapeString(v))
		}
	}
	item("Outcome / 結果", outcome(t))
	item("LINE account / LINEアカウント", t["line_account"])
	item("Analytics tag / 分析タグ", t["analytics_tag"])
	item("Rich menu / リッチメニュー", t["rich_menu_id"])
	item("LINE request ID / LINEリクエストID", t["line_request_id"])
	item("Webhook host / Webhookホスト", t["webhook_host"])
	item("HTTP status / HTTPステータス", t["http_status"])
	if !in.Timestamp.IsZero() {
		item("Time / 日時", in.Timestamp.UTC().Format("2006-01-02 15:04:05.000 UTC"))
	}
	if id, _ := in.ExtraData["batch_workflow_id"].(string); id != "" {
		item("Batch workflow / バッチワークフロー", id)
	}
	head.WriteString("</ul>")
	foot := "<p>hubline delivery ID / 配信ID: " + noteMarker(in.EventID) + "</p>"

	msgs := noteMessages(in.ExtraData)
	if len(msgs) == 0 {
		return head.String() + foot
	}
	var body strings.Builder
	body.WriteString(head.String())
	mark := html.EscapeString(noteTruncated)
	// Reserve room for the footer and, when cut, for closing the open paragraph and
	// adding the marker in its own.
	left := hubspot.MaxNoteBody - utf16Len(head.String()) - utf16Len(foot) - utf16Len(mark) - len("</p><p></p>")
	write := func(s string) bool {
		n := utf16Len(s)
		if n > left {
			return false
		}
		body.WriteString(s)
		left -= n
		return true
	}
	// messages writes until the budget runs out; it reports whether it was cut and whether
	// a paragraph is open.
	messages := func() (cut, open bool) {
		if !write("<p><strong>Messages / メッセージ</strong></p>") {
			return true, false
		}
		for i, m := range msgs {
			if !write(fmt.Sprintf("<p>%d. ", i+1)) {
				return true, false
			}
			for _, r := range m {
				s := "<br>"
				if r != '\n' {
					s = html.EscapeString(string(r))
				}
				if !write(s) {
					return true, true
				}
			}
			if !write("</p>") {
				return true, true
			}
		}
		return false, false
	}
	if cut, open := messages(); cut {
		if open {
			body.WriteString("</p>")
		}
		body.WriteString("<p>" + mark + "</p>")
	}
	body.WriteString(foot)
	return body.String()
}

// utf16Len counts characters as HubSpot's limit does (UTF-16 code units).
func utf16Len(s string) int {
	n := 0
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
