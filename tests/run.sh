#!/usr/bin/env bash
# Runs every Check suite. Tests that need /dev/kvm skip with a reason when it
# is absent, except under CI=true, where they must run (and fail if they cannot).
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${CI:-}" == "true" && ! -c /dev/kvm ]]; then
	echo "tests: CI=true but /dev/kvm is missing: the KVM tests cannot run" >&2
	exit 1
fi
exec build/iovirt-tests
