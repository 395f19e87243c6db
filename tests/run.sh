#!/usr/bin/env bash
# Runs every test: the VFIO lab (pass-through on a real VFIO stack inside
# QEMU), then every Check suite, whose summary line closes the output.
# Tests that need /dev/kvm or QEMU skip with a reason when absent, except
# under CI=true, where they must run (and fail if they cannot).
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${CI:-}" == "true" && ! -c /dev/kvm ]]; then
	echo "tests: CI=true but /dev/kvm is missing: the KVM tests cannot run" >&2
	exit 1
fi
lab_status=0
bash lab/run.sh || lab_status=$?
build/iovirt-tests
check_status=$?
if ((lab_status != 0)); then
	echo "tests: the VFIO lab failed (exit $lab_status); its log is in build/lab/console.log" >&2
	exit 1
fi
exit $check_status
