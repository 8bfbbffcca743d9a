package starter

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/metrics"
)

// errorCodeKey holds the error code abortError answered with, for the refusal log.
const errorCodeKey = "hubline.error_code"

// refused are the statuses that mean "this request was turned away" rather than "hubline
// failed": each is logged and counted, so an operator sees bad signatures, oversized
// bodies or a full queue without reading every request.
var refused = map[int]bool{
	http.StatusBadRequest: true, http.StatusUnauthorized: true, http.StatusForbidden: true,
	http.StatusNotFound: true, http.StatusMethodNotAllowed: true, http.StatusRequestEntityTooLarge: true,
	http.StatusUnsupportedMediaType: true, http.StatusTooManyRequests: true,
}

// countRefusals logs every refusal at info with its status and error code (never the body,
// which may hold message texts and LINE user IDs) and counts it by route pattern and code.
func (s *Server) countRefusals(c *gin.Context) {
	c.Next()
	status := c.Writer.Status()
	if !refused[status] {
		return
	}
	route := c.FullPath()
	if route == "" {
		route = "none" // unknown paths share one series
	}
	s.metrics.Refusal(route, status)
	s.log.Info("request refused", zap.String("route", route), zap.String("method", c.Request.Method),
		zap.Int("status", status), zap.String("error_code", c.GetString(errorCodeKey)))
}

// backlogDesc is the queue backlog gauge, one series per queue shard this starter used.
var backlogDesc = prometheus.NewDesc(metrics.QueueBacklog,
	"Recipients waiting in a Send LINE Message by Queue shard, as this starter last saw it (refreshed at most twice a second, also by scrapes).",
	[]string{"account", "shard"}, nil)

// backlogCollector reports each shard's backlog estimate at scrape time; reading it also
// refreshes a stale estimate, so the gauge drains to 0 when the queue does.
type backlogCollector struct{ s *Server }

func (b backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (b backlogCollector) Collect(ch chan<- prometheus.Metric) {
	b.s.queues.mu.Lock()
	qs := make([]*committer, 0, len(b.s.queues.m))
	for _, q := range b.s.queues.m {
		qs = append(qs, q)
	}
	b.s.queues.mu.Unlock()
	for _, q := range qs {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(q.estimate()),
			strconv.Itoa(q.account), strconv.Itoa(q.shard))
	}
}

// lineEventTypes are LINE's webhook event types; any other value is counted as "other", so
// the type label stays a short list whatever a request carries.
var lineEventTypes = map[string]bool{
	"message": true, "unsend": true, "follow": true, "unfollow": true, "join": true, "leave": true,
	"memberJoined": true, "memberLeft": true, "postback": true, "videoPlayComplete": true, "beacon": true,
	"accountLink": true, "things": true, "membership": true, "module": true, "activated": true,
	"deactivated": true, "botSuspended": true, "botResumed": true, "delivery": true,
}

// lineEventType is the type label of hubline_line_webhook_events_total.
func lineEventType(t string) string {
	if lineEventTypes[t] {
		return t
	}
	return "other"
}
