package worker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/hubline/hubline/workflows"
)

// ErrSearchAttributesUnverified means the namespace's search attributes could not be read
// (a role without the operator API, as on some managed services): the caller decides
// whether to go on.
var ErrSearchAttributesUnverified = errors.New("search attributes could not be listed")

// CheckSearchAttributes fails, naming them, when the namespace lacks search attributes that
// hubline's workflows set (workflows.SearchAttributes), or has them with another type; ops is
// the client's OperatorService().
// Without this a worker would start, and then every workflow task that upserts a missing
// attribute would fail and retry forever, long after the deploy looked healthy.
func CheckSearchAttributes(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		var denied *serviceerror.PermissionDenied
		var unimplemented *serviceerror.Unimplemented
		if errors.As(err, &denied) || errors.As(err, &unimplemented) {
			return fmt.Errorf("%w in namespace %s: %w", ErrSearchAttributesUnverified, namespace, err)
		}
		return fmt.Errorf("list the search attributes of namespace %s: %w", namespace, err)
	}
	return missingSearchAttributes(namespace, workflows.SearchAttributes(), resp.GetCustomAttributes())
}

// missingSearchAttributes compares what hubline needs with what the namespace has.
func missingSearchAttributes(namespace string, want, have map[string]enumspb.IndexedValueType) error {
	var missing, wrong []string
	for name, typ := range want {
		got, ok := have[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case got != typ:
			wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", name, got, typ))
		}
	}
	if len(missing) == 0 && len(wrong) == 0 {
		return nil
	}
	sort.Strings(missing)
	sort.Strings(wrong)
	var b strings.Builder
	fmt.Fprintf(&b, "namespace %s is not ready for hubline's workflows:", namespace)
	if len(missing) > 0 {
		fmt.Fprintf(&b, " missing search attributes %s (create each with `temporal operator search-attribute create --namespace %s --name <name> --type Keyword`, as docker compose's temporal-admin-tools does)",
			strings.Join(missing, ", "), namespace)
	}
	if len(wrong) > 0 {
		if len(missing) > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " search attributes of the wrong type: %s", strings.Join(wrong, "; "))
	}
	return errors.New(b.String())
}
