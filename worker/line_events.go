package worker

import (
	"github.com/hubline/hubline/activities"
)

// RegisterLineEvents adds the LINE webhook activities (LineProfile, ApplyLineContact,
// ForwardLineEvent) to the workers of New; call it before Start. LineEvent workflows run
// on hubline-interactive, but every worker of New registers the same set.
func (g Group) RegisterLineEvents(le *activities.LineEvents) {
	for _, w := range g {
		w.RegisterActivity(le)
	}
}
