package workflows_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/workflows"
)

func TestDeliveryStatusOf(t *testing.T) {
	for _, tc := range []struct {
		out  map[string]string
		want string
	}{
		{workflows.Success(map[string]string{"line_request_id": "r"}), workflows.DeliveryDelivered},
		{workflows.Success(map[string]string{"http_status": "204"}), workflows.DeliveryDelivered},
		{workflows.Failure(workflows.CodeExpired, "late"), workflows.DeliveryExpired},
		{workflows.Failure(workflows.CodeLineRejected, "400"), workflows.DeliveryFailed},
		{workflows.Failure(workflows.CodeLineMonthlyLimit, "quota"), workflows.DeliveryFailed},
		{workflows.Failure(workflows.CodeNoLineUserID, "none"), workflows.DeliveryFailed},
		{workflows.Failure(workflows.CodeWebhookRejected, "404"), workflows.DeliveryFailed},
		{workflows.Failure(workflows.CodeUnknownRichMenu, "menu"), workflows.DeliveryFailed},
		{workflows.Failure(workflows.CodeDeliveryUnknown, "cut off"), workflows.DeliveryFailed},
		{map[string]string{}, workflows.DeliveryFailed},
	} {
		if got := workflows.DeliveryStatusOf(tc.out); got != tc.want {
			t.Errorf("DeliveryStatusOf(%v) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

// The workflow marks itself pending before the push and settles before HubSpot is told;
// its result repeats the status and the error code.
func TestSendLineMessageUpsertsDeliveryStatus(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pushErr   error
		want      []string
		errorCode string
	}{
		{"delivered", nil, []string{"pending", "delivered"}, ""},
		{"rejected", temporal.NewNonRetryableApplicationError("bad", activities.ErrLineInvalid, nil), []string{"pending", "failed"}, workflows.CodeLineRejected},
		{"expired", temporal.NewNonRetryableApplicationError("late", activities.ErrExpired, nil), []string{"pending", "expired"}, workflows.CodeExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			a := &activities.Activities{}
			var seen []string
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				sa := args.Get(0).(temporal.SearchAttributes)
				v, _ := sa.GetKeyword(workflows.SADeliveryStatus)
				seen = append(seen, v)
				if sa.Size() != 1 {
					t.Errorf("upsert touched %d attributes, want DeliveryStatus alone", sa.Size())
				}
			}).Return(nil)
			env.OnActivity(a.PushLineMessage, mock.Anything, mock.Anything).Return(func(context.Context, activities.PushInput) (activities.PushOutput, error) {
				if !slices.Equal(seen, []string{"pending"}) {
					t.Errorf("at push time DeliveryStatus upserts were %v, want [pending]", seen)
				}
				return activities.PushOutput{RequestID: "req-1"}, tc.pushErr
			})
			env.OnActivity(a.CompleteCallback, mock.Anything, mock.Anything).Return(func(context.Context, activities.CallbackInput) (activities.CallbackOutput, error) {
				if len(seen) != 2 {
					t.Errorf("callback completed before the status settled: %v", seen)
				}
				return activities.CallbackOutput{}, nil
			})
			env.OnActivity(a.CreateTimelineEvent, mock.Anything, mock.Anything).Return(activities.TimelineOutput{}, nil)
			env.ExecuteWorkflow(workflows.SendLineMessage, input(env.Now().Add(24*time.Hour)))
			var res workflows.SendLineMessageResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seen, tc.want) {
				t.Errorf("DeliveryStatus upserts %v, want %v", seen, tc.want)
			}
			if res.DeliveryStatus != tc.want[1] || res.ErrorCode != tc.errorCode || res.OutputFields["error_code"] != tc.errorCode {
				t.Errorf("result %+v", res)
			}
		})
	}
}
