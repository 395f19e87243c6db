#!/usr/bin/env bash
# Pulls the uncompressed ELF vmlinux out of a bzImage: the payload is an xz
# (or gzip/zstd) stream somewhere after the setup code; try each place its
# magic occurs until one decompresses to an ELF. Usage: extract_vmlinux.sh BZIMAGE OUT
set -euo pipefail
in=$1 out=$2
try() {   # try MAGIC_HEX DECOMPRESSOR...
	local magic=$1; shift
	local off
	for off in $(LC_ALL=C grep -obUaP "$magic" "$in" | cut -d: -f1); do
		tail -c +$((off + 1)) "$in" | "$@" >"$out.tmp" 2>/dev/null || true
		if [[ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ')" == "7f454c46" ]]; then
			mv "$out.tmp" "$out"
			return 0
		fi
	done
	rm -f "$out.tmp"
	return 1
}
try '\xfd\x37\x7a\x58\x5a\x00' xz -dc ||
try '\x28\xb5\x2f\xfd' zstd -dc ||
try '\x1f\x8b\x08' gzip -dc || {
	echo "extract_vmlinux: no compressed ELF kernel found in $in" >&2
	exit 1
}
