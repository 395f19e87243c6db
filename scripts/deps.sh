#!/usr/bin/env bash
# Installs the Debian packages iovirt needs when they are missing: as root it
# runs apt-get itself; otherwise it prints the exact command and stops.
set -euo pipefail

packages=(
	build-essential pkg-config       # compiler, make, pkg-config
	liburing-dev                     # io_uring block engine
	libdpdk-dev                      # DPDK packet engine
	check                            # unit and integration tests
	linux-libc-dev                   # linux/kvm.h, linux/vfio.h
	qemu-system-x86                  # QEMU side-by-side runs and the VFIO lab
	busybox-static cpio kmod         # the VFIO lab's initramfs
	xz-utils zstd                    # the VFIO lab: unpacking the kernel image
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "iovirt needs these Debian packages: ${missing[*]}" >&2
	echo "install them with:  sudo apt-get update && sudo $cmd" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
$cmd >/dev/null
