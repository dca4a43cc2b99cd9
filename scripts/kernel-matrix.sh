#!/usr/bin/env bash
# The kernel matrix: boots each kernel under QEMU and, inside it, lists what
# the probes find (memrec probes --json), records a small workload and runs
# the root tests; then reports each recording on the host and prints one
# table: kernel x group x program, attached or skipped and why.
#
# Usage: scripts/kernel-matrix.sh [--docs] [--fixtures] [KERNEL...]
#   KERNEL  6.1 | 6.12       the newest Debian bookworm image of that series
#           linux-image-...  a Debian kernel package
#           PATH/vmlinuz-V   an unpacked kernel, its modules in PATH/../lib/modules/V
#           host             the running kernel, without a VM
#   default: 6.1 6.12 host
#   --docs  also write the table to docs/KERNELS.md and docs/ARCHITECTURE.md
#   --fixtures  also record each guest kernel's fixtures (memscen's
#           $KM_FIXTURES scenarios, default "memcg-reclaim oom leak") into
#           fixtures/kernels/<release>/, with that guest's memrec probes
#           (probes.json) and its emulator (emulated); the host kernel's
#           are fixtures/
#
# Needs root (apt, BPF). Installs qemu, busybox-static, kmod, file, jq and
# e2fsprogs from Debian and virtme-ng from PyPI when missing. Kernel packages
# are unpacked, never installed, into $KM_CACHE (default
# $CARGO_TARGET_DIR/kernels) and kept there. Results go to $KM_OUT (default
# $CARGO_TARGET_DIR/kernel-matrix).
# KM_ACCEL=auto (default) boots with KVM when a first guest reaches its
# shell with it within KM_KVM_PROBE seconds (default 60), else emulates
# (TCG: nested KVM guests can hang in early boot); kvm or tcg force one;
# KM_TESTS="record_pressure fidelity cli command procstat" the test binaries run in the
# guests ("" for none); KM_HOST_TESTS=1 runs them on
# the host kernel too (the ordinary test suite already does);
# KM_NO_BUILD=1 uses the binaries as built.
# Exit status 1 when a kernel does not boot or a step fails in one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

KM_CACHE=${KM_CACHE:-$CARGO_TARGET_DIR/kernels}
KM_OUT=${KM_OUT:-$CARGO_TARGET_DIR/kernel-matrix}
KM_ACCEL=${KM_ACCEL:-auto}
KM_MEMORY=${KM_MEMORY:-2G}
KM_CPUS=${KM_CPUS:-2}
KM_TIMEOUT=${KM_TIMEOUT:-2400}
KM_TESTS=${KM_TESTS-record_pressure fidelity cli command procstat}
KM_HOST_TESTS=${KM_HOST_TESTS:-0}
# Emulated guests (TCG) now and then wedge in the kernel's live code
# patching (text_poke_bp: one CPU waits forever for the other to take an
# IPI) or trap on a half-patched instruction (an "Oops: int3" at a static
# key or tracepoint site, at boot or when a probe is enabled); real CPUs do
# not. Such a run is stopped when the guest reports a CPU stuck for this
# long, or that trap, and booted again (twice at most: on a loaded host the
# trap comes more often); what it printed is kept as console.attemptN.log. Any other kernel panic stops the run at once.
KM_WEDGE_SECS=${KM_WEDGE_SECS:-120}
KM_RETRIES=${KM_RETRIES:-2}
VNG_VERSION=${VNG_VERSION:-1.42}

docs=0
fixtures=0
KM_FIXTURES=${KM_FIXTURES:-memcg-reclaim oom leak}
kernels=()
for a in "$@"; do
    case $a in
    --docs) docs=1 ;;
    --fixtures) fixtures=1 ;;
    -h | --help)
        sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "kernel-matrix: unknown option $a" >&2
        exit 2
        ;;
    *) kernels+=("$a") ;;
    esac
done
((${#kernels[@]})) || kernels=(6.1 6.12 host)

log() { echo "kernel-matrix: $*" >&2; }
# Failures are said as they happen and again after the table, on stdout,
# with the failing checks of the test logs: what a CI log's tail shows.
failures=()
fail() {
    log "$*"
    failures+=("$*")
}

# Prints why an emulated guest is wedged, from its console, and succeeds;
# fails while it is not. A soft lockup in the kernel's code patching, or any
# CPU stuck past KM_WEDGE_SECS, never recovers under TCG.
emulator_wedge() {
    local console=$1 stuck
    if grep -q 'Oops: int3' "$console" 2>/dev/null; then
        echo "the guest trapped on a half-patched instruction (int3 at $(grep -m1 -o 'RIP: 0010:[^ ]*' "$console" | cut -d: -f3))"
        return 0
    fi
    stuck=$(grep -o 'soft lockup - CPU#[0-9]* stuck for [0-9]*s' "$console" 2>/dev/null |
        tail -1 | grep -o '[0-9]*s$' | tr -d s) || true
    if [[ -n $stuck ]] && ((stuck >= KM_WEDGE_SECS)); then
        if grep -q 'text_poke_bp\|smp_call_function_many_cond' "$console"; then
            echo "a CPU stuck for ${stuck}s in the kernel's live code patching"
        else
            echo "a CPU stuck for ${stuck}s"
        fi
        return 0
    fi
    return 1
}
die() {
    log "$*"
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (apt, BPF and the root tests)"

# --- tools -------------------------------------------------------------------

apt_updated=0
apt_update() {
    if ((!apt_updated)); then
        apt-get update -q >/dev/null
        apt_updated=1
    fi
}

need_debs=()
command -v qemu-system-x86_64 >/dev/null || need_debs+=(qemu-system-x86)
# vng wants a static busybox for its initramfs.
[[ -x /bin/busybox && $(file -L /bin/busybox 2>/dev/null) == *static* ]] ||
    need_debs+=(busybox-static)
command -v depmod >/dev/null || [[ -x /usr/sbin/depmod ]] || need_debs+=(kmod)
command -v file >/dev/null || need_debs+=(file)
command -v jq >/dev/null || need_debs+=(jq)
command -v mkfs.ext4 >/dev/null || [[ -x /usr/sbin/mkfs.ext4 ]] || need_debs+=(e2fsprogs)
if ((${#need_debs[@]})); then
    log "installing ${need_debs[*]}"
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_debs[@]}" >/dev/null
fi
if ! command -v vng >/dev/null; then
    log "installing virtme-ng $VNG_VERSION"
    python3 -m pip install -q "virtme-ng==$VNG_VERSION"
    hash -r
fi

# --- kernels -----------------------------------------------------------------

# The newest bookworm amd64 image of a series, e.g. 6.1 -> linux-image-6.1.0-57-amd64-unsigned.
newest_package() {
    local series=$1 pattern
    case $series in
    6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
    *) pattern="^linux-image-${series//./\\.}\\.[0-9]+\\+deb[0-9]+-amd64-unsigned\$" ;;
    esac
    apt_update
    apt-cache search --names-only "$pattern" | cut -d' ' -f1 | sort -V | tail -1
}

# Unpacks a kernel package into the cache (once); prints its vmlinuz.
unpacked_kernel() {
    local pkg=$1 root=$KM_CACHE/$1 deb
    if ! compgen -G "$root/boot/vmlinuz-*" >/dev/null; then
        mkdir -p "$KM_CACHE/deb"
        deb=$(compgen -G "$KM_CACHE/deb/${pkg}_*.deb" | sort -V | tail -1 || true)
        if [[ -z $deb ]]; then
            log "downloading $pkg"
            apt_update
            (cd "$KM_CACHE/deb" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
                die "apt-get download $pkg failed"
            deb=$(compgen -G "$KM_CACHE/deb/${pkg}_*.deb" | sort -V | tail -1)
        fi
        rm -rf "$root.tmp"
        dpkg-deb -x "$deb" "$root.tmp"
        mv "$root.tmp" "$root"
    fi
    compgen -G "$root/boot/vmlinuz-*" | head -1
}

# A kernel argument -> a vmlinuz path, or "host".
resolve() {
    local k=$1 pkg
    case $k in
    host) echo host ;;
    linux-image-*) unpacked_kernel "$k" ;;
    */* | vmlinuz*)
        [[ -f $k ]] || die "$k: no such kernel image"
        realpath "$k"
        ;;
    [0-9]*)
        pkg=$(newest_package "$k")
        [[ -n $pkg ]] || die "no Debian kernel package found for series $k"
        unpacked_kernel "$pkg"
        ;;
    *) die "unknown kernel $k (6.1, 6.12, linux-image-..., a vmlinuz path or host)" ;;
    esac
}

# --- binaries ----------------------------------------------------------------

if [[ ${KM_NO_BUILD:-0} != 1 ]]; then
    cargo build --release --workspace --bins
fi
for b in memrec memana memscen; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is missing: build the workspace first"
done

# NAME=EXECUTABLE of each test binary to run in the guests.
tests=()
test_executable() {
    local pkg=$1 name=$2 json
    # Cargo's own messages (and errors) go to stderr as usual.
    json=$(cargo test --release -p "$pkg" --test "$name" --no-run --message-format=json) || return 1
    jq -r --arg n "$name" \
        'select(.reason == "compiler-artifact" and .target.name == $n and .executable != null) | .executable' \
        <<<"$json" | tail -1
}
for t in $KM_TESTS; do
    case $t in
    cli) pkg=memtrace-recorder ;;
    *) pkg=memtrace ;;
    esac
    exe=$(test_executable "$pkg" "$t") || die "could not build the test $t of $pkg"
    [[ -n $exe && -x $exe ]] || die "no executable for the test $t of $pkg"
    tests+=("$t=$exe")
done

# --- runs --------------------------------------------------------------------

mkdir -p "$KM_OUT"
# From the shared directory: the clone may be where the guest sees a fresh
# file system (/tmp).
guest=$KM_OUT/guest.sh
cp scripts/kernel-matrix/guest.sh "$guest"
cp scripts/make-fixtures.sh "$KM_OUT/make-fixtures.sh"
status=0
labels=()
: >"$KM_OUT/timings.tsv"

# Whether a guest boots with KVM here: a first boot must reach its shell.
kvm_boots() {
    local img=$1 probe=$KM_OUT/kvm-probe
    [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
    rm -f "$probe"
    timeout --foreground -k 5 "${KM_KVM_PROBE:-60}" \
        vng -r "$img" --rwdir "$KM_OUT" --memory 1G -- "uname -r >$probe" \
        </dev/null >"$KM_OUT/kvm-probe.log" 2>&1 || true
    [[ -s $probe ]]
}

for k in "${kernels[@]}"; do
    img=$(resolve "$k")
    if [[ $KM_ACCEL == auto && $img != host ]]; then
        if kvm_boots "$img"; then
            KM_ACCEL=kvm
        else
            KM_ACCEL=tcg
            log "a guest does not boot with KVM here (see $KM_OUT/kvm-probe.log): emulating (TCG)"
        fi
    fi
    if [[ $img == host ]]; then
        label=host-$(uname -r)
    else
        label=$(basename "$img")
        label=${label#vmlinuz-}
    fi
    dir=$KM_OUT/$label
    rm -rf "$dir"
    mkdir -p "$dir"
    labels+=("$label")
    t0=$(date +%s)
    if [[ $img == host ]]; then
        log "$label: on the host"
        run_tests=()
        ((KM_HOST_TESTS)) && run_tests=("${tests[@]}")
        "$guest" "$dir" "$BIN" "${run_tests[@]}" >"$dir/console.log" 2>&1 || true
    else
        log "$label: booting $img ($KM_ACCEL)"
        accel=(--disable-kvm)
        [[ $KM_ACCEL == kvm ]] && accel=()
        # The guest sees the host's root read-only with a fresh /tmp and
        # /var/tmp: the build directory (binaries, kernels, results) is
        # shared read-write at the same path.
        rw=(--rwdir "$CARGO_TARGET_DIR")
        [[ $KM_OUT == "$CARGO_TARGET_DIR"/* ]] || rw+=(--rwdir "$KM_OUT")
        # The kernel's modules too (virtio_blk, zram): the guest's /var/tmp
        # is its own, so a cache there is out of its sight otherwise.
        [[ $KM_CACHE == "$CARGO_TARGET_DIR"/* ]] || rw+=(--rwdir "$KM_CACHE")
        # The source tree (tests read fixtures/ by their build-time path):
        # the guest has its own /tmp and /var/tmp, so a clone there is shared.
        case $PWD in /tmp/* | /var/tmp/*) rw+=(--rodir "$PWD") ;; esac
        if [[ $KM_ACCEL == tcg ]]; then
            # The tests relax the checks that bound a time (MEMTRACE_EMULATED).
            echo tcg >"$dir/emulated"
            # A throughput check: emulated CPUs drain the ring buffer ten
            # times slower than real ones. The host suite runs it.
            echo "cli root_procstat_timer_rss_fallback_and_load_test" \
                "the load test's throughput is not met under emulation (TCG)" >"$dir/skip"
        fi
        ((fixtures)) && echo "$KM_FIXTURES" >"$dir/fixtures.list"
        # A disk for the guest's /var/tmp (else a tmpfs), sparse and thrown
        # away after the run.
        disk=$dir/vartmp.img
        attempt=1
        while :; do
            truncate -s 8G "$disk"
            mkfs.ext4 -q -F -L kmvartmp "$disk"
            timeout --foreground -k 30 "$KM_TIMEOUT" \
                vng --verbose "${accel[@]}" -r "$img" "${rw[@]}" --disk "$disk" \
                --memory "$KM_MEMORY" --cpus "$KM_CPUS" \
                -- "$guest $dir $BIN ${tests[*]}" </dev/null >"$dir/console.log" 2>&1 &
            vm=$!
            wedged=""
            panicked=""
            while kill -0 "$vm" 2>/dev/null; do
                sleep 10
                if [[ $KM_ACCEL == tcg ]] && wedged=$(emulator_wedge "$dir/console.log"); then
                    pkill -f -- "$img" 2>/dev/null || true
                    kill "$vm" 2>/dev/null || true
                    break
                fi
                # A panicked guest never finishes: stop it now, not at the timeout.
                if grep -q 'Kernel panic - not syncing' "$dir/console.log" 2>/dev/null; then
                    panicked=1
                    pkill -f -- "$img" 2>/dev/null || true
                    kill "$vm" 2>/dev/null || true
                    break
                fi
            done
            wait "$vm" 2>/dev/null || true
            rm -f "$disk"
            if [[ -n $panicked ]]; then
                log "$label: the guest kernel panicked (see $dir/console.log)"
                break
            fi
            [[ -z $wedged && ( -f $dir/kernel-release || $KM_ACCEL != tcg ) ]] && break
            [[ -z $wedged ]] && wedged="the emulated guest did not boot"
            if ((attempt > KM_RETRIES)); then
                log "$label: $wedged; no retries left"
                break
            fi
            log "$label: $wedged (an emulation fault, not a test's); booting again"
            mkdir -p "$dir/attempt$attempt"
            mv "$dir/console.log" "$dir/console.attempt$attempt.log"
            find "$dir" -maxdepth 1 -type f ! -name 'console.attempt*' ! -name emulated \
                ! -name skip ! -name fixtures.list -exec mv -t "$dir/attempt$attempt" {} +
            attempt=$((attempt + 1))
        done
    fi
    secs=$(($(date +%s) - t0))
    printf '%s\t%d\n' "$label" "$secs" >>"$KM_OUT/timings.tsv"

    if [[ ! -f $dir/kernel-release ]]; then
        fail "$label: FAILED: the guest did not boot (see $dir/console.log)"
        status=1
        continue
    fi
    if [[ ! -f $dir/finished ]]; then
        if grep -q 'Kernel panic - not syncing' "$dir/console.log" 2>/dev/null; then
            fail "$label: FAILED: the guest kernel panicked (see $dir/console.log)"
        else
            fail "$label: FAILED: the guest did not finish within ${KM_TIMEOUT}s (see $dir/console.log)"
        fi
        status=1
    fi
    while IFS=$'\t' read -r name rc s why; do
        if [[ $rc == "not run" ]]; then
            log "$label: $name not run: $why"
        elif [[ $rc != 0 ]]; then
            fail "$label: FAILED: $name exited with $rc after ${s}s (see $dir)"
            status=1
        fi
    done <"$dir/steps.tsv"
    # The recording, read on the host as production would.
    if [[ -f $dir/record.parquet ]]; then
        if ! "$BIN/memana" info --format json "$dir/record.parquet" >"$dir/info.json" 2>"$dir/info.err"; then
            fail "$label: FAILED: memana info: $(head -1 "$dir/info.err")"
            status=1
        fi
        if ! "$BIN/memana" report "$dir/record.parquet" >"$dir/report.txt" 2>"$dir/report.err"; then
            fail "$label: FAILED: memana report: $(head -1 "$dir/report.err")"
            status=1
        fi
    fi
    # The guest's fixtures, checked by memana on the host, go beside the
    # host kernel's (fixtures/), named by kernel release.
    if ((fixtures)) && [[ $img != host ]]; then
        release=$(cat "$dir/kernel-release")
        fixture_ok=1
        for s in $KM_FIXTURES; do
            f=$dir/fixtures/$s.parquet
            if [[ ! -f $f || ! -f $dir/fixtures/$s.truth.json ]] ||
                ! "$BIN/memana" info "$f" >/dev/null 2>"$dir/fixture-$s.err"; then
                fail "$label: FAILED: fixture $s was not recorded or does not open (see $dir)"
                fixture_ok=0
                status=1
            fi
        done
        if ((fixture_ok)); then
            rm -rf "fixtures/kernels/$release"
            mkdir -p "fixtures/kernels/$release"
            cp "$dir"/fixtures/*.{parquet,truth.json,summary.txt} "fixtures/kernels/$release/"
            # What the fidelity checks need to know of that guest: memrec
            # probes there (to cross-check missing programs) and whether
            # it was emulated (time bounds).
            cp "$dir/probes.json" "fixtures/kernels/$release/"
            rm -f "fixtures/kernels/$release/emulated"
            [[ ! -f $dir/emulated ]] || cp "$dir/emulated" "fixtures/kernels/$release/"
            log "$label: fixtures in fixtures/kernels/$release"
        fi
    fi
    log "$label: ${secs}s"
done

table=$(python3 scripts/kernel-matrix/table.py "$KM_OUT" "${labels[@]}")
echo "$table" >"$KM_OUT/summary.md"
echo "$table"
if ((${#failures[@]})); then
    echo
    echo "Failures:"
    for f in "${failures[@]}"; do
        echo "- $f"
        # A failed test step: its failing checks and panics, briefly.
        if [[ $f =~ ^([^:]+):\ FAILED:\ test:([A-Za-z0-9_]+)\  ]]; then
            log_file=$KM_OUT/${BASH_REMATCH[1]}/test-${BASH_REMATCH[2]}.log
            [[ -f $log_file ]] && grep -E '\| FAIL$|panicked at|^test .* FAILED$' "$log_file" | head -20 | sed 's/^/    /' || true
        fi
    done
fi
if ((docs)); then
    {
        cat scripts/kernel-matrix/KERNELS.head.md
        echo
        echo "$table"
    } >docs/KERNELS.md
    log "wrote docs/KERNELS.md"
    # The same runs as one table in ARCHITECTURE.md, between its markers.
    arch=$(python3 scripts/kernel-matrix/table.py --architecture "$KM_OUT" "${labels[@]}")
    ARCH_TABLE=$arch python3 - docs/ARCHITECTURE.md <<'PY'
import os, re, sys
path = sys.argv[1]
text = open(path).read()
begin, end = "<!-- kernel-matrix:begin -->", "<!-- kernel-matrix:end -->"
if begin not in text or end not in text:
    sys.exit(f"{path}: no {begin} ... {end} block")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(head + begin + "\n" + os.environ["ARCH_TABLE"] + "\n" + end + tail)
PY
    log "wrote the kernel table in docs/ARCHITECTURE.md"
fi
exit $status
