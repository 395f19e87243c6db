#!/bin/busybox sh
# /init of the VFIO lab's initramfs: loads VFIO and KVM, binds the lab's
# devices to vfio-pci, runs iovirt against them and prints one
# "LAB RESULT <test> PASS|FAIL|PENDING <detail>" line per test and a final
# "LAB SUMMARY" line that lab/run.sh reads, then powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp && mount -t tmpfs tmp /tmp
mkdir -p /var/tmp     # where iovirt puts its temporary disk
. /lab/devices.sh     # NVME, NIC, BRIDGED_VFIO, BRIDGED_OTHER, ABSENT

pass=0 fail=0 pending=0
result() {   # result TEST PASS|FAIL|PENDING DETAIL
	echo "LAB RESULT $1 $2 $3"
	case $2 in PASS) pass=$((pass + 1));; FAIL) fail=$((fail + 1));; *) pending=$((pending + 1));; esac
}

while read -r ko; do insmod "/lab/modules/$ko" 2>/dev/null || echo "lab: insmod $ko failed"; done </lab/modules.list
sysctl -qw kernel.printk="3 4 1 3" 2>/dev/null

bind_vfio() {   # the driver_override + drivers_probe way
	echo vfio-pci >"/sys/bus/pci/devices/$1/driver_override"
	[ -e "/sys/bus/pci/devices/$1/driver" ] && echo "$1" >"/sys/bus/pci/devices/$1/driver/unbind"
	echo "$1" >/sys/bus/pci/drivers_probe
}
for d in $NVME $NIC $BRIDGED_VFIO; do bind_vfio "$d"; done
# The e1000 driver now takes only the bridged NIC left for it.
insmod /lab/modules/e1000.ko 2>/dev/null
for d in $NVME $NIC $BRIDGED_VFIO $BRIDGED_OTHER; do
	drv=$(basename "$(readlink "/sys/bus/pci/devices/$d/driver")" 2>/dev/null)
	grp=$(basename "$(readlink "/sys/bus/pci/devices/$d/iommu_group")" 2>/dev/null)
	echo "lab: $d driver=${drv:-none} iommu_group=${grp:-none}"
done
if [ -c /dev/kvm ] && [ -c /dev/vfio/vfio ]; then
	result lab-setup PASS "/dev/kvm and /dev/vfio/vfio present"
else
	result lab-setup FAIL "missing /dev/kvm or /dev/vfio/vfio"
fi

IOVIRT="/usr/bin/iovirt run --mem 64M --timeout 120 --stats"

# run NAME ARGS...: output in /tmp/NAME.out, exit status in $rc
run() {
	name=$1; shift
	t0=$(cut -d' ' -f1 /proc/uptime)
	$IOVIRT "$@" >/tmp/$name.out 2>&1
	rc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "----- $name (exit $rc, $t0 .. $t1 s): iovirt run $*"
	sed 's/^/  | /' /tmp/$name.out | tail -40
}

# MMIO+PIO exits into the passed-through device, from --stats.
device_exits() {
	grep "^device .*passthrough: " "/tmp/$1.out" | head -1 |
		sed -n 's/.*: \([0-9]*\) PIO exits, \([0-9]*\) MMIO exits.*/\1 \2/p' |
		{ read -r p m; echo $(( ${p:-0} + ${m:-0} )); }
}

# boot with each device passed through: the guest's PCI scan must list it.
run boot-nvme --disk "model=passthrough,host=$NVME" --cmdline iovirt.test=boot
if [ $rc = 0 ] && grep -q "^PCI 00:.* 1b36:0010 class 010802" /tmp/boot-nvme.out; then
	result boot-nvme PASS "guest PCI scan lists the passed-through NVMe 1b36:0010"
else
	result boot-nvme FAIL "exit $rc; NVMe not in the guest's PCI scan"
fi
run boot-nic --nic "model=passthrough,host=$NIC" --cmdline iovirt.test=boot
if [ $rc = 0 ] && grep -q "^PCI 00:.* 8086:100e class 020000" /tmp/boot-nic.out; then
	result boot-nic PASS "guest PCI scan lists the passed-through e1000 8086:100e"
else
	result boot-nic FAIL "exit $rc; e1000 not in the guest's PCI scan"
fi
run boot-vfio --device "vfio,host=$NVME" --nic "model=passthrough,host=$NIC" --cmdline iovirt.test=boot
if [ $rc = 0 ] && grep -q "1b36:0010" /tmp/boot-vfio.out && grep -q "8086:100e" /tmp/boot-vfio.out; then
	result boot-two-devices PASS "--device vfio and --nic passthrough share one container"
else
	result boot-two-devices FAIL "exit $rc"
fi

# The benchmark's pass-through rows, next to the emulated model on the same
# machine: exits per I/O is the figure that matters (none in the data path).
# It runs before disk-verify, whose stamps the host checks afterwards.
t0=$(cut -d' ' -f1 /proc/uptime)
/usr/bin/iovirt bench --device disk --model emulated,passthrough --vfio-disk "$NVME" \
	--workload randread-4k-qd1,randread-4k-qd32 --reps 1 --duration 300 --cpl 0 --no-baseline \
	>/tmp/bench.out 2>/tmp/bench.err
rc=$?
sed 's/^/lab: bench | /' /tmp/bench.out | grep -v '^lab: bench | $'
pt_exits=$(awk '$1 == "disk" && $2 == "passthrough" && $3 == "randread-4k-qd1" { print $11 }' /tmp/bench.out)
if [ $rc = 0 ] && [ "$pt_exits" = "0.00" ]; then
	result bench-passthrough PASS "passthrough randread-4k-qd1: $pt_exits exits per I/O ($(cut -d' ' -f1 /proc/uptime | awk -v t="$t0" '{ printf "%.1f", $1 - t }') s)"
else
	result bench-passthrough FAIL "exit $rc, ${pt_exits:-no} exits per I/O: $(tail -2 /tmp/bench.err | tr '\n' ' ')"
fi


# Workloads through the guest's own drivers. need_irq: the device must have
# interrupted the guest (NVMe by MSI-X through irqfd); QEMU's e1000 has no
# MSI, and the guest polls it rather than take INTx.
workload() {   # workload TEST need_irq ARGS...
	name=$1 need_irq=$2; shift 2
	run "$name" "$@"
	ints=$(sed -n 's/^RESULT interrupts=//p' "/tmp/$name.out" | tail -1)
	ops=$(sed -n 's/^RESULT ops=//p' "/tmp/$name.out" | tail -1)
	exits=$(device_exits "$name")
	echo "lab: $name ops=${ops:-?} guest_interrupts=${ints:-?} device_exits=$exits"
	if [ $rc = 0 ] && [ "${ops:-0}" -gt 0 ] && { [ "$need_irq" = 0 ] || [ "${ints:-0}" -gt 0 ]; }; then
		result "$name" PASS "ops=$ops interrupts=$ints exits_per_io=$((exits / ops)).$(( (exits * 100 / ops) % 100 ))"
	else
		result "$name" FAIL "exit $rc ops=${ops:-?} interrupts=${ints:-?}"
	fi
}
workload disk-verify 1 --disk "model=passthrough,host=$NVME" \
	--cmdline "iovirt.test=disk iovirt.disk.pattern=verify iovirt.disk.span=1048576 iovirt.disk.ops=256"
# lab/run.sh checks the stamps the guest left in the image against these.
echo "lab: disk-verify stamps disk_seed=$(sed -n 's/^RESULT disk_seed=//p' /tmp/disk-verify.out | tail -1)" \
	"disk_block_size=$(sed -n 's/^RESULT disk_block_size=//p' /tmp/disk-verify.out | tail -1) span=1048576"
workload nic-echo 0 --nic "model=passthrough,host=$NIC" \
	--cmdline "iovirt.test=nic iovirt.nic.count=64"

# DMA outside guest RAM: the IOMMU must fault it (DMAR), the NVMe must fail
# both I/Os, iovirt must survive. QEMU's nvme completes a data transfer the
# IOMMU refused with success (it bounces the data and drops the error), so the
# escape is a PRP list just past guest RAM, whose refused fetch it reports as
# Data Transfer Error (guest/test_dma_escape.c). The data-buffer form runs
# after it, for the record only. The kernel rate-limits DMAR messages (about 3
# faults' worth per 5 s), so the test's own faults must come first.
result_of() { sed -n "s/^RESULT $2=//p" "/tmp/$1.out" | tail -1; }
dmar_lines() { dmesg | grep -E "DMAR: \[DMA (Read|Write)" | sed 's/^\[[ 0-9.]*\] //'; }
dmar_irqs() { awk '/DMAR/ { n += $2 } END { print n + 0 }' /proc/interrupts; }
dmesg -c >/dev/null
irqs0=$(dmar_irqs)
run dma-escape -v --disk "model=passthrough,host=$NVME" \
	--cmdline "iovirt.test=dma-escape iovirt.escape.via=prp-list"
addr=$(result_of dma-escape escape_addr)
st_read=$(result_of dma-escape escape_read_status)
st_write=$(result_of dma-escape escape_write_status)
nvme_bdf=${NVME#0000:}
fault=$(dmar_lines | grep "DMA Read.* device \[$nvme_bdf\] fault addr $addr " | head -1)
# Every VFIO map iovirt made must end at or below the escape address.
maps=$(grep -c "vfio: map iova" /tmp/dma-escape.out)
bad_map=$(sed -n 's/.*vfio: map iova \(0x[0-9a-f]*\) size \(0x[0-9a-f]*\).*/\1 \2/p' /tmp/dma-escape.out |
	while read -r iova size; do
		[ -n "$addr" ] && [ $(($iova + $size)) -gt $(($addr)) ] && echo "$iova+$size"
	done)
grep -E "vfio: (map|unmap) iova" /tmp/dma-escape.out | sed 's/^.*vfio: /lab: dma-escape vfio /'
echo "lab: dma-escape read_status=$st_read write_status=$st_write escape_addr=$addr" \
	"DMAR interrupts=$(($(dmar_irqs) - irqs0)) fault: ${fault:-none}"
if [ $rc = 0 ] && grep -q "^iovirt: guest done: pass" /tmp/dma-escape.out &&
	[ -n "$st_read" ] && [ "$st_read" -gt 0 ] && [ -n "$st_write" ] && [ "$st_write" -gt 0 ] &&
	[ -n "$fault" ] && [ "$maps" -gt 0 ] && [ -z "$bad_map" ]; then
	result dma-escape PASS "NVMe status $st_read/$st_write; $fault"
else
	result dma-escape FAIL "exit $rc; statuses ${st_read:-?}/${st_write:-?}; DMAR fault at ${addr:-?} from $nvme_bdf: ${fault:-none}; maps $maps past the escape: ${bad_map:-none}"
fi
dmesg -c >/dev/null
irqs0=$(dmar_irqs)
run dma-escape-data --disk "model=passthrough,host=$NVME" --cmdline "iovirt.test=dma-escape iovirt.escape.via=data"
echo "lab: dma-escape-data (not a test: QEMU's nvme hides the refusal) exit $rc" \
	"read_status=$(result_of dma-escape-data escape_read_status)" \
	"write_status=$(result_of dma-escape-data escape_write_status)" \
	"DMAR interrupts=$(($(dmar_irqs) - irqs0)); DMAR lines (rate-limited):"
dmar_lines | sed 's/^/lab:   /'

# Host setup mistakes: one clear line each, exit status 2.
expect_error() {   # expect_error TEST TEXT ARGS...
	name=$1 text=$2; shift 2
	run "$name" "$@"
	if [ $rc = 2 ] && grep -q "$text" "/tmp/$name.out"; then
		result "$name" PASS "$(grep "$text" "/tmp/$name.out" | head -1 | cut -c1-160)"
	else
		result "$name" FAIL "exit $rc; expected '$text'"
	fi
}
expect_error bound-to-other-driver "bound to e1000, not vfio-pci; rebind it: echo vfio-pci > /sys/bus/pci/devices/$BRIDGED_OTHER/driver_override" \
	--nic "model=passthrough,host=$BRIDGED_OTHER"
expect_error group-not-viable "is not viable: it also holds.*$BRIDGED_OTHER is bound to e1000" \
	--nic "model=passthrough,host=$BRIDGED_VFIO"
expect_error device-not-found "$ABSENT: device not found" --device "vfio,host=$ABSENT"

# After all of that the devices must still work: iovirt cleaned up.
run boot-after --disk "model=passthrough,host=$NVME" --cmdline iovirt.test=boot
if [ $rc = 0 ]; then result reuse-after-errors PASS "NVMe passes through again"; else result reuse-after-errors FAIL "exit $rc"; fi

echo "LAB SUMMARY pass=$pass fail=$fail pending=$pending uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
