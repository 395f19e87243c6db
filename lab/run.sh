#!/usr/bin/env bash
# The VFIO lab: boots Debian's kernel in QEMU (TCG, q35 with an emulated
# Intel IOMMU) with an NVMe disk and e1000 NICs, and inside it runs iovirt
# with those devices passed through by VFIO (lab/init.sh holds the tests).
# Everything comes from Debian packages and is cached in build/lab/.
# Prints one line per test and exits non-zero if any test failed.
#   IOVIRT=path   the iovirt binary to test (default build/iovirt)
#   LAB_BOOT=vmlinux|bzimage   how QEMU boots the lab kernel (default vmlinux, by PVH)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s.%N)
LAB=build/lab
IOVIRT=${IOVIRT:-build/iovirt}
LAB_BOOT=${LAB_BOOT:-vmlinux}
mkdir -p "$LAB"

die() { echo "lab: $*" >&2; exit 1; }
[[ -x "$IOVIRT" ]] || die "$IOVIRT is missing: run 'make all' first"
for tool in qemu-system-x86_64 cpio depmod modprobe apt-get dpkg xz gcc; do
	command -v "$tool" >/dev/null || die "$tool is missing: run 'bash scripts/deps.sh' (or make deps)"
done
[[ -x /bin/busybox ]] && /bin/busybox --list | grep -qx insmod ||
	die "a static busybox is missing: apt-get install busybox-static"

# --- The lab kernel: the current Debian amd64 kernel package ---
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
[[ -n "$kpkg" ]] || die "apt-cache knows no linux-image-amd64 (run apt-get update)"
kver=${kpkg#linux-image-}
kdir=$LAB/kernel-$kver
if [[ ! -e "$kdir/.unpacked" ]]; then
	echo "lab: fetching $kpkg" >&2
	rm -rf "$kdir" && mkdir -p "$kdir"
	(cd "$LAB" && apt-get download -q "$kpkg" >/dev/null 2>&1) || die "apt-get download $kpkg failed"
	dpkg -x "$LAB"/"$kpkg"_*.deb "$kdir"
	rm -f "$LAB"/"$kpkg"_*.deb
	depmod -b "$kdir" "$kver"
	touch "$kdir/.unpacked"
fi
if [[ ! -e "$kdir/vmlinux" ]]; then
	bash lab/extract_vmlinux.sh "$kdir/boot/vmlinuz-$kver" "$kdir/vmlinux"
fi

# --- Host-side helpers ---
reflector=$LAB/frame_reflector
if [[ ! -x "$reflector" || lab/frame_reflector.c -nt "$reflector" ]]; then
	gcc -std=gnu11 -Wall -Wextra -Werror -O2 -o "$reflector" lab/frame_reflector.c
fi

# --- The initramfs ---
root=$LAB/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,lab/modules,usr/bin}
cp /bin/busybox "$root/bin/busybox"
cp lab/init.sh "$root/init"
chmod +x "$root/init"
declare -A seen=()
: >"$root/lab/modules.list"
for m in vfio-pci vfio_iommu_type1 kvm_amd; do
	while read -r _ ko _; do
		[[ -n "${seen[$ko]:-}" ]] && continue
		seen[$ko]=1
		cp "$ko" "$root/lab/modules/"
		basename "$ko" >>"$root/lab/modules.list"
	done < <(modprobe -d "$kdir" -S "$kver" --show-depends "$m" | grep '^insmod')
done
# e1000 is loaded by init.sh after the lab's NICs are claimed for vfio-pci.
cp "$(modprobe -d "$kdir" -S "$kver" --show-depends e1000 | awk '/^insmod/ {print $2}' | tail -1)" \
	"$root/lab/modules/e1000.ko"
cp "$IOVIRT" "$root/usr/bin/iovirt"
for lib in $(ldd "$IOVIRT" | awk '/=> \// {print $3} /^\t\// {print $1}'); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
# Fixed addresses (see the QEMU command line below).
cat >"$root/lab/devices.sh" <<'DEV'
NVME=0000:00:04.0
NIC=0000:00:05.0
BRIDGED_VFIO=0000:01:01.0
BRIDGED_OTHER=0000:01:02.0
ABSENT=0000:00:1e.0
DEV
(cd "$root" && find . | cpio -o -H newc --quiet) >"$LAB/initramfs.cpio"

# --- Devices' host side: the NVMe's backing image and the NIC's wire ---
img=$LAB/nvme.img
rm -f "$img" && truncate -s 64M "$img"
port=$((20000 + $$ % 20000))
"$reflector" "$port" "$LAB/reflector.count" &
reflector_pid=$!
trap 'kill $reflector_pid 2>/dev/null || true' EXIT

if [[ "$LAB_BOOT" == bzimage ]]; then
	kernel=$kdir/boot/vmlinuz-$kver
else
	kernel=$kdir/vmlinux
fi
console=$LAB/console.log
qemu=(qemu-system-x86_64 -machine q35,kernel-irqchip=split -accel tcg -cpu max -m 1024 -smp 1
	-device intel-iommu,intremap=on,caching-mode=on
	-nographic -vga none -no-reboot -nodefaults -serial stdio
	-drive if=none,id=nvm,file="$img",format=raw,cache=writethrough
	-device nvme,serial=iovirtlab,drive=nvm,addr=0x4,romfile=
	-netdev socket,id=wire,udp=127.0.0.1:$port,localaddr=127.0.0.1:$((port + 1))
	-device e1000,netdev=wire,addr=0x5,romfile=,mac=52:54:00:12:34:56
	-device pcie-pci-bridge,id=bridge,addr=0x6
	-device e1000,bus=bridge,addr=0x1,romfile=,mac=52:54:00:12:34:57
	-device e1000,bus=bridge,addr=0x2,romfile=,mac=52:54:00:12:34:58
	-kernel "$kernel" -initrd "$LAB/initramfs.cpio"
	-append "console=ttyS0 intel_iommu=on iommu=strict quiet panic=-1 rdinit=/init")
echo "lab: booting $kver ($LAB_BOOT) in QEMU; console in $console" >&2
boot=$(date +%s.%N)
timeout 600 "${qemu[@]}" </dev/null >"$console" 2>&1 || echo "lab: QEMU exited with status $?" >&2
kill $reflector_pid 2>/dev/null || true
wait $reflector_pid 2>/dev/null || true
end=$(date +%s.%N)

# --- Results ---
grep -E "^(lab:|LAB RESULT)" "$console" | tr -d '\r' || true
results=$(tr -d '\r' <"$console" | grep "^LAB RESULT" || true)
extra_fail=0
# The guest's writes must be on the disk as seen from outside the lab: every
# device block of the verify span starts with the guest's stamp (its LBA, then
# the run's seed, both 64-bit little endian; guest/test_disk.c).
if grep -q "^LAB RESULT disk-verify PASS" <<<"$results"; then
	stamps=$(tr -d '\r' <"$console" | sed -n 's/^lab: disk-verify stamps //p' | tail -1)
	seed=$(sed -n 's/.*disk_seed=0x\([0-9a-fA-F]\{1,16\}\)\( .*\|$\)/\1/p' <<<"$stamps")
	bsize=$(sed -n 's/.*disk_block_size=\([0-9]\{1,6\}\)\( .*\|$\)/\1/p' <<<"$stamps")
	span=$(sed -n 's/.*span=\([0-9]\{1,10\}\)\( .*\|$\)/\1/p' <<<"$stamps")
	if [[ -z "$seed" || -z "$bsize" || -z "$span" ]] || ((bsize < 16 || span % bsize != 0)); then
		echo "LAB RESULT nvme-bytes-on-host FAIL the lab printed no usable disk-verify stamp line: '$stamps'"
		extra_fail=1
	else
		# od prints each 16 bytes as two little-endian 64-bit words in hex.
		check=$(od -v -A d -t x8 -w16 -N "$span" "$img" | awk -v bs="$bsize" -v seed="$seed" -v span="$span" '
			BEGIN { seed = sprintf("%016s", tolower(seed)); gsub(/ /, "0", seed); blocks = span / bs }
			NF == 3 && $1 % bs == 0 {
				lba = $1 / bs
				if ($2 == sprintf("%016x", lba) && $3 == seed) good++
				else if (bad++ < 3) first = first sprintf(" block %d: %s %s;", lba, $2, $3)
			}
			END { printf "%d %d%s\n", good, blocks, bad ? " first bad:" first : "" }')
		if [[ "$check" == "$((span / bsize)) $((span / bsize))" ]]; then
			echo "LAB RESULT nvme-bytes-on-host PASS all $((span / bsize)) blocks of $bsize bytes in the $span-byte span carry their LBA and seed 0x$seed in $img"
		else
			echo "LAB RESULT nvme-bytes-on-host FAIL stamped blocks / blocks: $check (seed 0x$seed, block $bsize bytes)"
			extra_fail=1
		fi
	fi
fi
if grep -q "^LAB RESULT nic-echo PASS" <<<"$results"; then
	count=$(cat "$LAB/reflector.count" 2>/dev/null || echo frames=0)
	if [[ "${count%% *}" != frames=0 ]]; then
		echo "LAB RESULT nic-frames-on-wire PASS reflector saw $count"
	else
		echo "LAB RESULT nic-frames-on-wire FAIL the reflector saw no frame"
		extra_fail=1
	fi
fi
summary=$(tr -d '\r' <"$console" | grep "^LAB SUMMARY" || true)
awk -v s="$start" -v b="$boot" -v e="$end" 'BEGIN { printf "lab: wall time %.1f s (QEMU %.1f s)\n", e - s, e - b }'
if [[ -z "$summary" ]]; then
	echo "lab: FAIL: the lab never printed its summary; last console lines:" >&2
	tail -30 "$console" >&2
	exit 1
fi
echo "$summary"
if [[ "$summary" != *" fail=0 "* || $extra_fail -ne 0 ]]; then
	echo "lab: FAIL" >&2
	exit 1
fi
echo "lab: PASS"
