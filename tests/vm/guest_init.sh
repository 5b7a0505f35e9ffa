#!/bin/busybox sh
# /init of the vfioctl test initramfs (busybox only).  Built into the
# initramfs by tests/vm/harness.py; the per-boot settings come from the
# writable 9p share "results" (boot.env, written by the harness).
#
#  1. mount proc/sys/devtmpfs, the results share at /results
#  2. bind every edu (1234:11e8) and e1000e (8086:10d3) function (the ids in
#     VM_BIND_IDS) to vfio-pci (driver_override + drivers_probe), except those
#     listed in VM_NOBIND
#     (devfn chains such as "02.0/00.1")
#  3. dump /sys/bus/pci/devices to /results/pci.tsv
#  4. mount the host root read-only (9p, tag hostroot) at /mnt/host, bind the
#     guest's /proc /sys /dev over it, tmpfs on /tmp and /run, bind the results
#     share over the same absolute path it has on the host
#  5. chroot /mnt/host $VM_PYTHON $VM_RUNNER $VM_PLAN
#  6. dmesg to /results/dmesg.txt, poweroff -f
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /mnt/host /results
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

say() { echo "@@VM $*"; }
finish() {
    say "init: shutting down ($1)"
    [ -d /results ] && dmesg > /results/dmesg.txt 2>/dev/null
    sync
    poweroff -f
    sleep 5
    echo o > /proc/sysrq-trigger 2>/dev/null
    reboot -f
}

say "init: uptime $(cut -d' ' -f1 /proc/uptime) s; cmdline: $(cat /proc/cmdline)"

# a stock distribution kernel: VFIO and 9p are modules (harness.initramfs(modules))
if [ -f /modules.list ]; then
    while read -r m; do
        insmod "/lib/modules/$m" || say "init: insmod $m failed"
    done < /modules.list
    say "init: modules loaded; uptime $(cut -d' ' -f1 /proc/uptime) s"
fi

if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /results; then
    say "FATAL: cannot mount the results share"
    finish "no results share"
fi
if [ ! -f /results/boot.env ]; then
    say "FATAL: /results/boot.env missing"
    finish "no boot.env"
fi
. /results/boot.env
say "init: mode=$VM_MODE results=$VM_RESULTS python=$VM_PYTHON"

# ---------------------------------------------------------------- bind to vfio-pci
# (shell builtins only where possible: every fork costs ~20 ms under TCG)
chain_of() {
    # /sys/devices/pci0000:00/0000:00:02.0/0000:01:00.1 -> CHAIN=02.0/00.1
    _p=$(readlink -f "/sys/bus/pci/devices/$1"); _p=${_p#/sys/devices/pci*/}
    CHAIN=; IFS=/; for _c in $_p; do CHAIN="$CHAIN/${_c#*:*:}"; done; unset IFS; CHAIN=${CHAIN#/}
}
link_base() { # LINK=basename of symlink $1 or "-"
    LINK=-; [ -L "$1" ] && { LINK=$(readlink "$1"); LINK=${LINK##*/}; }
}
NOBIND=" $(echo "$VM_NOBIND" | tr ',' ' ') "
# VM_BIND_IDS (boot.env): the ids to bind; older harnesses do not set it
BIND_IDS=" ${VM_BIND_IDS-0x1234:0x11e8 0x8086:0x10d3} "
for d in /sys/bus/pci/devices/*; do
    bdf=${d##*/}
    read v < "$d/vendor"; read i < "$d/device"
    case "$BIND_IDS" in *" $v:$i "*) ;; *) continue ;; esac
    if [ "$NOBIND" != "  " ]; then
        chain_of "$bdf"
        case "$NOBIND" in *" $CHAIN "*)
            say "init: leaving $bdf ($CHAIN) unbound"
            # a built-in host driver (e1000e) may have claimed it at boot
            [ -L "$d/driver" ] && echo "$bdf" > "$d/driver/unbind"
            continue ;; esac
    fi
    # a built-in host driver (e1000e) claims the function at boot: take it back first
    [ -L "$d/driver" ] && { echo "$bdf" > "$d/driver/unbind" || say "init: unbind $bdf failed"; }
    echo vfio-pci > "$d/driver_override"
    echo "$bdf" > /sys/bus/pci/drivers_probe || say "init: drivers_probe $bdf failed"
done

# ---------------------------------------------------------------- pci dump
{
    printf 'bdf\tchain\tvendor\tdevice\tclass\tdriver\tiommu_group\treset_method\n'
    for d in /sys/bus/pci/devices/*; do
        bdf=${d##*/}
        chain_of "$bdf"
        read v < "$d/vendor"; read i < "$d/device"; read c < "$d/class"
        link_base "$d/driver"; drv=$LINK
        link_base "$d/iommu_group"; grp=$LINK
        rm=-; [ -r "$d/reset_method" ] && read rm < "$d/reset_method"
        [ -z "$rm" ] && rm=-
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$bdf" "$CHAIN" "$v" "$i" "$c" "$drv" "$grp" "${rm// /,}"
    done
} > /results/pci.tsv
say "init: pci.tsv written; uptime $(cut -d' ' -f1 /proc/uptime) s"

# ---------------------------------------------------------------- host root + chroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /mnt/host; then
    say "FATAL: cannot mount hostroot"
    finish "no hostroot"
fi
for m in proc sys dev; do mount --bind /$m /mnt/host/$m; done
# The checkout (and its .venv) may live under /tmp or /run (CI clones into a
# fresh directory): keep it visible through the tmpfs mounted over those.
CHECKOUT=${VM_RUNNER%/tests/vm/guest_runner.py}
case "$CHECKOUT" in
    /tmp/*|/run/*) mkdir -p /mnt/keep && mount --bind "/mnt/host$CHECKOUT" /mnt/keep && KEEP=1 ;;
    *) KEEP=0 ;;
esac
mount -t tmpfs -o mode=1777 tmpfs /mnt/host/tmp
mount -t tmpfs -o mode=0755 tmpfs /mnt/host/run
if [ "$KEEP" = 1 ]; then
    mkdir -p "/mnt/host$CHECKOUT" && mount --bind /mnt/keep "/mnt/host$CHECKOUT" \
        || { say "FATAL: cannot keep the checkout $CHECKOUT visible"; finish "no checkout"; }
fi
if ! mount --bind /results "/mnt/host$VM_RESULTS"; then
    say "FATAL: cannot bind the results share over /mnt/host$VM_RESULTS"
    finish "no results bind"
fi

say "init: starting runner; uptime $(cut -d' ' -f1 /proc/uptime) s"
chroot /mnt/host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 VFIOCTL_VM_MODE="$VM_MODE" \
    "$VM_PYTHON" "$VM_RUNNER" "$VM_PLAN"
say "init: runner exited with $?; uptime $(cut -d' ' -f1 /proc/uptime) s"
finish done
