# Guest side of the live-uevent check (sourced by a "sh" step of test_sriov.py;
# $PYTHON, $RESULTS, $CHECKOUT come from the runner, PF/VF from the step).
# Starts `vfioctl watch --json` and an independent recorder (pyudev's kernel
# netlink monitor, no udevd in the guest), waits until both have their netlink
# socket, then changes the devices: VFs destroyed and created through the igb
# PF, a VF unbound from igbvf and bound to vfio-pci.  Both logs land in $RESULTS.
set -u
cd "$CHECKOUT"
VFIOCTL_PCI_IDS=none "$PYTHON" -m vfioctl watch --json > "$RESULTS/watch.jsonl" 2> "$RESULTS/watch.err" &
W=$!
"$PYTHON" tests/vm/uevent_recorder.py > "$RESULTS/uevents.jsonl" 2> "$RESULTS/uevents.err" &
R=$!
ready() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q 'socket:'; }
i=0
until ready $W && ready $R; do
    i=$((i + 1)); [ $i -gt 600 ] && { echo "listeners not ready"; kill $W $R; exit 1; }
    sleep 0.1
done
sleep 0.5
D=/sys/bus/pci/devices
echo "actions start $(cat /proc/uptime)"
echo 0 > $D/$PF/sriov_numvfs
echo 2 > $D/$PF/sriov_numvfs
sleep 1
echo "$VF" > $D/$VF/driver/unbind
echo vfio-pci > $D/$VF/driver_override
echo "$VF" > /sys/bus/pci/drivers_probe
echo "actions done; VF driver: $(basename "$(readlink $D/$VF/driver)")"
# a last, known event ("change" on the PF) marks the end: wait until both
# listeners have written it (they are slow Python under TCG), then stop them
echo change > $D/$PF/uevent
N=$(cat /sys/kernel/uevent_seqnum)
echo "end marker: seqnum $N"
i=0
until grep -Eq "\"seqnum\": ?$N[,}]" "$RESULTS/watch.jsonl" && grep -Eq "\"seqnum\": ?$N[,}]" "$RESULTS/uevents.jsonl"; do
    i=$((i + 1)); [ $i -gt 1200 ] && { echo "end marker not seen by both"; break; }
    sleep 0.1
done
kill $W $R
wait $W
wait $R
wc -l "$RESULTS/watch.jsonl" "$RESULTS/uevents.jsonl"
cat "$RESULTS/watch.err"
