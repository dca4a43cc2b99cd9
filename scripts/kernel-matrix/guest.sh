#!/usr/bin/env bash
# Runs inside one kernel of the matrix (a QEMU guest, or the host itself):
# what the probes find, a short recording under a small workload, and the
# root tests. Usage: guest.sh OUT BIN [NAME=TEST-EXECUTABLE...]
#
# Everything goes to OUT, a directory the host shares with the guest (the
# guest's own /tmp and /var/tmp are fresh). OUT/steps.tsv has one line per
# step: name, exit code (or "not run"), seconds, why not run. The host decides what passed from that
# file, not from the guest's exit code, which the VM runner may not pass on.
set -uo pipefail

out=$1
bin=$2
shift 2
mkdir -p "$out"
: >"$out/steps.tsv"
uname -r >"$out/kernel-release"

step() {
    local name=$1 t0 rc
    shift
    echo "== $name: $*" >&2
    t0=$(date +%s)
    "$@"
    rc=$?
    printf '%s\t%d\t%d\n' "$name" "$rc" $(($(date +%s) - t0)) >>"$out/steps.tsv"
    echo "== $name: exit $rc after $(($(date +%s) - t0)) s" >&2
    return 0
}

# The guest's /var/tmp is a tmpfs, where memscen's files would be shmem that
# no reclaim can drop: the host gives it an ext4 disk labelled kmvartmp.
if grep -q virtme /proc/cmdline && [[ $(stat -f -c %T /var/tmp) == tmpfs ]]; then
    modprobe -a virtio_blk ext4 2>/dev/null
    # Probing the disk can take a while on a busy emulated machine.
    for ((i = 0; i < 300; i++)); do
        dev=$(blkid -L kmvartmp 2>/dev/null) && break
        sleep 0.2
    done
    # The shared directories are mounted under /var/tmp: move them onto the
    # disk, then the disk onto /var/tmp.
    if [[ -n ${dev:-} ]] && mkdir -p /run/kmvartmp && mount "$dev" /run/kmvartmp; then
        awk '$2 ~ "^/var/tmp/" { print $2 }' /proc/mounts | while read -r m; do
            mkdir -p "/run/kmvartmp/${m#/var/tmp/}"
            mount --move "$m" "/run/kmvartmp/${m#/var/tmp/}"
        done
        mount --move /run/kmvartmp /var/tmp
        echo "/var/tmp on $dev" >&2
        # The tests' own files (tempfile) too: a page cache that can be
        # dropped and written back, as on a real machine.
        export TMPDIR=/var/tmp
    else
        # memscen's files would be shmem that no reclaim can drop, and the
        # pressure scenarios would end in OOM kills: a failure, not a skip.
        echo "no disk for /var/tmp" >&2
        printf 'vartmp\t1\t0\n' >>"$out/steps.tsv"
    fi
fi

# memscen's swap scenario makes its swap on zram; a module on Debian's kernels.
if grep -q virtme /proc/cmdline; then
    modprobe -q zram 2>/dev/null || true
fi

# The fidelity tests read the kernel's own trace output.
if ! mountpoint -q /sys/kernel/tracing; then
    mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi

# memscen makes its pressure in a memory cgroup: v1 where the v1 memory
# controller is mounted at /sys/fs/cgroup/memory (as on the host), else the
# cgroup2 one. virtme-ng mounts only cgroup2; where the kernel still has v1
# memcg (CONFIG_MEMCG_V1, always before 6.12) mount it where memscen looks,
# so these kernels run memscen as the host does. Without it (Debian's 6.12)
# virtme-ng's cgroup2 stays at /sys/fs/cgroup and memscen uses that.
memcg_v1=0
if [[ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
    memcg_v1=1
elif [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == cgroup2* ]]; then
    # The host's layout: v1 controllers beside cgroup2 at unified/.
    mount -t tmpfs cgroup_root /sys/fs/cgroup
    mkdir -p /sys/fs/cgroup/memory /sys/fs/cgroup/unified
    mount -t cgroup2 none /sys/fs/cgroup/unified
    if mount -t cgroup -o memory memory /sys/fs/cgroup/memory 2>/dev/null; then
        memcg_v1=1
    else
        umount /sys/fs/cgroup/unified
        umount /sys/fs/cgroup
    fi
fi
echo $memcg_v1 >"$out/memcg-v1"
if ((memcg_v1)); then
    echo "memory cgroup: v1" >&2
else
    echo "memory cgroup: v2 ($(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null))" >&2
fi

probes() {
    "$bin/memrec" probes --json >"$out/probes.json" 2>"$out/probes.err"
}

# A recording of a leak and a memcg reclaim run at small scale: growth,
# faults, reclaim and sysstat all get something to record.
record() {
    local rec=$out/record.parquet log=$out/record.log pid i
    rm -f "$rec"
    "$bin/memrec" record -o "$rec" --force --no-progress -v >"$out/record.summary" 2>"$log" &
    pid=$!
    # Loading the probes under emulation takes a while: wait until memrec
    # says it records.
    for ((i = 0; i < 600; i++)); do
        grep -q "recording to" "$log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if ! grep -q "recording to" "$log"; then
        echo "memrec did not start recording" >&2
        kill -INT "$pid" 2>/dev/null
        wait "$pid"
        return 1
    fi
    local rc=0
    "$bin/memscen" run leak --scale small --truth "$out/leak.truth.json" 2>"$out/memscen.log" || rc=1
    "$bin/memscen" run memcg-reclaim --scale small --truth "$out/memcg-reclaim.truth.json" \
        2>>"$out/memscen.log" || rc=1
    sleep 1
    kill -INT "$pid"
    wait "$pid" || rc=1
    return $rc
}

step probes probes
step record record

# This kernel's fixtures, when the host asked for them (kernel-matrix.sh
# --fixtures wrote the scenarios to OUT/fixtures.list): the same recordings
# as fixtures/, made on this kernel.
if [[ -f $out/fixtures.list ]]; then
    read -ra fixture_scenarios <"$out/fixtures.list"
    step fixtures "$(dirname "$0")/make-fixtures.sh" --out "$out/fixtures" --bin "$bin" \
        "${fixture_scenarios[@]}"
fi

# The test binaries find memrec and memscen next to their own directory.
export MEMTRACE_REQUIRE_ROOT=1
# Under emulation (the host wrote OUT/emulated) the tests widen the checks
# that bound a time, and say so.
if [[ -f $out/emulated ]]; then
    export MEMTRACE_EMULATED=$(cat "$out/emulated")
fi
for t in "$@"; do
    name=${t%%=*}
    # Tests the host leaves out here (OUT/skip: "binary test why", one a
    # line), e.g. throughput checks that emulation cannot meet.
    skip=()
    if [[ -f $out/skip ]]; then
        while read -r binary test why; do
            [[ $binary == "$name" ]] || continue
            skip+=(--skip "$test")
            printf '%s\tnot run\t0\t%s\n' "test:$name:$test" "$why" >>"$out/steps.tsv"
        done <"$out/skip"
    fi
    step "test:$name" "${t#*=}" --test-threads=1 "${skip[@]}" >"$out/test-$name.log" 2>&1
done
echo done >"$out/finished"
