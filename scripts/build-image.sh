#!/bin/sh
# Builds the hubline binary the container image ships, at the path given (default ./hubline).
# The Dockerfile runs this script and so does CI (internal/composestack's tests), so the build
# that is tested is the build that ships.
#
# The binary is static (CGO_ENABLED=0): it needs no C library, so it runs on any base image and
# as any user. The first build compiles the embedded Temporal server used by `hubline dev`: a
# few minutes on 2 cores.
set -eu
out=${1:-hubline}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out" ./cmd/hubline
# Refuse a binary that could still need the C library (a CGO_ENABLED=1 in the environment
# loses to the one above, but check what was built, not what was asked for).
if ! go version -m "$out" | grep -q 'CGO_ENABLED=0'; then
	echo "build-image.sh: $out was not built with CGO_ENABLED=0" >&2
	exit 1
fi
echo "built $out (static, CGO_ENABLED=0)"
