//! Fidelity of the committed recordings (fixtures/), without root: every
//! recorded figure against the kernel's own accounting that the fixture
//! carries (memrec's /proc/vmstat and /proc/zoneinfo reads at start and end,
//! memscen's ground truth: /proc/vmstat, /proc/zoneinfo, /proc/PID/status,
//! the kernel log). The same checks run on fresh recordings in
//! tests/fidelity.rs (root). docs/FIDELITY.md lists every figure, its
//! tolerance and why.
//!
//! Every line measured is printed as `FIDELITY <scenario> | <figure> | ...`:
//! `cargo test --release -p memtrace --test fidelity_fixtures -- --nocapture 2>&1 | grep FIDELITY`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use support::fidelity::{self, Case, Report};
use support::fidelity_compaction;
use support::fidelity_faults;
use support::fidelity_hugetlb;
use support::fidelity_mappings;
use support::fidelity_memleak;
use support::fidelity_swap;
use support::kernel::KernelProbes;
use support::{bin, read, File};

const SCENARIOS: [&str; 7] = [
    "memcg-reclaim",
    "oom",
    "alloc-fail",
    "leak",
    "swap",
    "fragment",
    "mappings",
];

/// fixtures/, or the directory named by MEMTRACE_FIXTURES (to check a set of
/// recordings remade by scripts/make-fixtures.sh before committing them).
fn fixtures() -> PathBuf {
    match std::env::var_os("MEMTRACE_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures"),
    }
}

fn fixture(name: &'static str) -> (File, serde_json::Value) {
    Fixture::host(name).read()
}

/// One committed recording with its truth: the host kernel's, or another
/// kernel's, recorded in a guest by `scripts/kernel-matrix.sh --fixtures`
/// (fixtures/kernels/<release>/).
struct Fixture {
    scenario: &'static str,
    dir: PathBuf,
    /// The other kernel's release; "" for the host's.
    kernel: String,
    /// The emulator the guest ran under, as the matrix noted it beside
    /// the recordings (`emulated`).
    emulated: Option<String>,
    /// `memrec probes --json` in that guest (`probes.json` beside them).
    probes: Option<KernelProbes>,
}

impl Fixture {
    fn host(scenario: &'static str) -> Self {
        Fixture {
            scenario,
            dir: fixtures(),
            kernel: String::new(),
            emulated: None,
            probes: None,
        }
    }

    fn parquet(&self) -> PathBuf {
        self.dir.join(format!("{}.parquet", self.scenario))
    }

    fn read(&self) -> (File, serde_json::Value) {
        let file = read(&self.parquet());
        let truth = std::fs::read_to_string(self.dir.join(format!("{}.truth.json", self.scenario)))
            .unwrap();
        (file, serde_json::from_str(&truth).unwrap())
    }

    fn case<'a>(&'a self, f: &'a File, t: &'a serde_json::Value) -> Case<'a> {
        Case::new(self.scenario, f, t)
            .emulated_by(self.emulated.clone())
            .probed_by(self.probes.as_ref())
    }
}

/// The host's fixtures of SCENARIOS, then each other kernel's that it has.
fn all() -> Vec<Fixture> {
    let mut out: Vec<Fixture> = SCENARIOS.into_iter().map(Fixture::host).collect();
    let mut kernels: Vec<PathBuf> = std::fs::read_dir(fixtures().join("kernels"))
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    kernels.sort();
    for dir in kernels {
        let kernel = dir.file_name().unwrap().to_string_lossy().into_owned();
        let emulated = std::fs::read_to_string(dir.join("emulated"))
            .ok()
            .map(|s| s.trim().to_string());
        let probes = std::fs::read(dir.join("probes.json"))
            .ok()
            .map(|b| KernelProbes::parse(&serde_json::from_slice(&b).unwrap()));
        for scenario in SCENARIOS {
            if dir.join(format!("{scenario}.truth.json")).exists() {
                out.push(Fixture {
                    scenario,
                    dir: dir.clone(),
                    kernel: kernel.clone(),
                    emulated: emulated.clone(),
                    probes: probes.clone(),
                });
            }
        }
    }
    out
}

/// Runs one check over every fixture (every kernel's) and fails with
/// everything that failed.
fn each(check: impl Fn(&Case, &mut Report)) {
    let mut r = Report::new();
    for fx in all() {
        let (f, t) = fx.read();
        r.kernel(&fx.kernel);
        check(&fx.case(&f, &t), &mut r);
    }
    r.finish();
}

#[test]
fn other_kernels_fixtures_are_there() {
    let others: Vec<String> = all()
        .into_iter()
        .filter(|fx| !fx.kernel.is_empty())
        .map(|fx| format!("{}/{}", fx.kernel, fx.scenario))
        .collect();
    // 6.1 and 6.12, three scenarios each (scripts/kernel-matrix.sh --fixtures).
    assert!(others.len() >= 6, "{others:?}");
}

#[test]
fn fixtures_are_small_complete_and_lossless() {
    let mut r = Report::new();
    for fx in all() {
        let s = fx.scenario;
        r.kernel(&fx.kernel);
        let size = std::fs::metadata(fx.parquet()).unwrap().len();
        r.check(
            s,
            "fixture size under 2 MiB",
            size < 2 << 20,
            format!("{size} bytes"),
        );
        let (f, t) = fx.read();
        let c = fx.case(&f, &t);
        r.check(
            s,
            "truth is of this scenario",
            t["scenario"] == s,
            format!("{}", t["scenario"]),
        );
        fidelity::recording_is_complete(&c, &mut r);
    }
    r.finish();
}

/// The mappings fixture (memscen's mappings scenario recorded with
/// `--probes +mappings`): each call's count, failures and bytes against the
/// scenario's truth, the sizes against procstat's VmSize, and memana's
/// mappings section.
#[test]
fn fixtures_mappings_match_the_scenarios_calls_and_vsize() {
    let (f, t) = fixture("mappings");
    let c = Case::new("mappings", &f, &t);
    let mut r = Report::new();
    fidelity_mappings::mappings(&c, &mut r);
    let file = fixtures().join("mappings.parquet");
    fidelity_mappings::analyzer(&c, &bin("memana"), &file, &mut r);
    r.finish();
}

#[test]
fn fixtures_reclaim_matches_pgsteal_and_pgscan() {
    each(fidelity::reclaim);
}

#[test]
fn fixtures_oom_kills_match_oom_kill_and_the_kernel_log() {
    each(fidelity::oom);
}

#[test]
fn fixtures_alloc_failures_match_htlb_buddy_alloc_fail() {
    each(fidelity::alloc_failures);
}

#[test]
fn fixtures_gfp_text_is_the_kernels_decoding_of_the_mask() {
    each(fidelity::gfp_text);
    // The hugetlb pool's failure in alloc-fail, as this machine kind's
    // kernel prints it for the same scenario in its own trace buffer (the
    // root test compares every recorded failure with that printout).
    let (f, t) = fixture("alloc-fail");
    let c = Case::new("alloc-fail", &f, &t);
    let paf = c.table("paf");
    let htlb = fidelity::hugetlb_failures(&c, &paf);
    assert!(!htlb.is_empty());
    for p in htlb {
        assert_eq!(
            p["gfp"].text(),
            "GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL|__GFP_COMP|__GFP_THISNODE"
        );
    }
}

#[test]
fn fixtures_sysstat_matches_proc_vmstat() {
    each(fidelity::sysstat);
}

#[test]
fn fixtures_zone_watermarks_match_zoneinfo() {
    each(fidelity::zones);
}

#[test]
fn fixtures_procstat_matches_proc_pid_status() {
    each(fidelity::procstat);
}

#[test]
fn fixtures_leak_rate_matches_known_rate_and_vmrss() {
    let mut r = Report::new();
    for fx in all().into_iter().filter(|fx| fx.scenario == "leak") {
        let (f, t) = fx.read();
        r.kernel(&fx.kernel);
        let rate = fidelity::leak_rate(&fx.case(&f, &t), &mut r);
        // Under emulation the worker can fall off its schedule; the rate
        // is then skipped with that said (leak_rate).
        let void = fidelity::leak_off_schedule_emulated(&t, fx.emulated.as_deref());
        r.check(
            "leak",
            "a leak rate was measured",
            rate.is_some() || void.is_some(),
            format!(
                "{rate:?}{}",
                void.map(|v| format!("; {v}")).unwrap_or_default()
            ),
        );
    }
    r.finish();
}

#[test]
fn fixtures_analyzer_figures_match_the_kernel() {
    let memana = bin("memana");
    let mut r = Report::new();
    for fx in all() {
        let (f, t) = fx.read();
        r.kernel(&fx.kernel);
        let c = fx.case(&f, &t);
        match fidelity::analyzer_report(&memana, &fx.parquet()) {
            Ok(report) => fidelity::analyzer(&c, &report, &mut r),
            Err(e) => r.check(fx.scenario, "memana report --format json", false, e),
        }
    }
    r.finish();
}

/// The test's own parsers read this kernel's formats the way memrec and
/// memscen do (they are independent implementations of the same thing).
#[test]
fn parsers_agree_with_memrec_and_memscen() {
    let line = "Memory cgroup out of memory: Killed process 32344 (memscen-oom) total-vm:1054116kB, anon-rss:32512kB, file-rss:3184kB, shmem-rss:0kB, UID:0 pgtables:124kB oom_score_adj:0";
    let k = fidelity::parse_killed(line).unwrap();
    assert_eq!((k.pid, k.comm.as_str()), (32344, "memscen-oom"));
    assert_eq!(k.fields["anon-rss"], 32512);
    assert_eq!(k.fields["UID"], 0);
    assert_eq!(k.fields["oom_score_adj"], 0);

    let names = vec![
        (0xcc0, "GFP_KERNEL".to_string()),
        (0x400, "__GFP_DIRECT_RECLAIM".to_string()),
        (0x40, "__GFP_IO".to_string()),
    ];
    assert_eq!(fidelity::decode_gfp(&names, 0), "none");
    assert_eq!(fidelity::decode_gfp(&names, 0xcc0), "GFP_KERNEL");
    assert_eq!(
        fidelity::decode_gfp(&names, 0x440 | 0x1_0000),
        "__GFP_DIRECT_RECLAIM|__GFP_IO|0x10000"
    );

    for fx in all() {
        let s = format!("{}/{}", fx.kernel, fx.scenario);
        let (_, t) = fx.read();
        let mine = fidelity::parse_zoneinfo(t["before"]["zoneinfo_raw"].as_str().unwrap());
        let theirs = t["before"]["zones"].as_array().unwrap();
        assert_eq!(mine.len(), theirs.len(), "{s}");
        for (m, z) in mine.iter().zip(theirs) {
            assert_eq!(m.zone, z["zone"].as_str().unwrap());
            for (a, b) in [
                (m.min, "min"),
                (m.low, "low"),
                (m.high, "high"),
                (m.managed, "managed"),
                (m.present, "present"),
                (m.spanned, "spanned"),
                (m.free, "free"),
            ] {
                assert_eq!(Some(a), z[b].as_u64(), "{s} {} {b}", m.zone);
            }
            assert!(
                !m.thresholds.is_empty() || m.managed == 0,
                "{s} {}: no per-CPU thresholds",
                m.zone
            );
        }
    }
}

/// What the root tests accept of a program that did not attach: a failure
/// never; "missing" only where `memrec probes --json` on the running kernel
/// says so too; files without the `state` field read as memrec wrote them.
#[test]
fn probe_states_are_cross_checked_with_memrec_probes() {
    use serde_json::json;
    use support::kernel::{probe_verdict, recorded_probes, release_version, KernelProbes};
    // `memrec probes --json` of a kernel without the watermark tracepoint;
    // an older memrec says only `available`.
    let here = KernelProbes::parse(&json!([{ "group": "paf", "programs": [
        { "program": "paf_wmark_setup", "state": "missing", "available": false,
          "why": "tracepoint kmem:mm_setup_per_zone_wmarks missing" },
        { "program": "paf_page_alloc", "state": "available", "available": true },
        { "program": "procstat_exit_mm", "state": "standby", "available": true },
    ]}, { "group": "old", "programs": [
        { "program": "old_missing", "available": false },
    ]}]));
    let meta = json!({ "probes": [
        { "program": "paf_wmark_setup", "target": "kmem:mm_setup_per_zone_wmarks", "attached": false,
          "standby": false, "state": "missing", "error": "tracepoint kmem:mm_setup_per_zone_wmarks missing", "lost": 0 },
        { "program": "paf_page_alloc", "target": "kmem:mm_page_alloc", "attached": false,
          "standby": false, "state": "missing", "error": "tracepoint kmem:mm_page_alloc missing", "lost": 0 },
        { "program": "paf_page_alloc", "target": "kmem:mm_page_alloc", "attached": false,
          "standby": false, "state": "failed", "error": "permission denied", "lost": 0 },
        { "program": "procstat_exit_mm", "target": "mmput", "attached": false,
          "standby": true, "state": "standby", "lost": 0 },
        { "program": "procstat_synthetic", "target": "load test", "attached": false,
          "standby": true, "state": "not_asked", "lost": 0 },
        { "program": "old_missing", "target": "x:y", "attached": false, "standby": false,
          "error": "tracepoint x:y missing", "lost": 0 },
        { "program": "old_standby", "target": "x:z", "attached": false, "standby": true, "lost": 0 },
        { "program": "paf_page_alloc", "target": "kmem:mm_page_alloc", "attached": true,
          "standby": false, "state": "sleeping", "lost": 0 },
    ]});
    let verdicts: Vec<bool> = recorded_probes(&meta)
        .iter()
        .map(|p| probe_verdict(p, Some(&here)).0)
        .collect();
    assert_eq!(
        verdicts,
        [true, false, false, true, true, false, true, false],
        "missing where memrec probes agrees; missing where it finds the target; failed; \
         standby; not asked; an old file's unattached program; an old file's standby; \
         an unknown state"
    );
    // A fixture cannot be cross-checked: missing fails there.
    let fixture = recorded_probes(&meta);
    assert!(!probe_verdict(&fixture[0], None).0);
    assert!(probe_verdict(&fixture[3], None).0);

    assert_eq!(release_version("6.1.0-57-amd64"), Some((6, 1)));
    assert_eq!(release_version("6.12.117+deb12-amd64"), Some((6, 12)));
    assert_eq!(release_version("6.18.44-fc-v669"), Some((6, 18)));
}

/// The compaction fixture (memscen's fragment scenario recorded with
/// `--probes +compaction`), and every other fixture where it applies, against
/// the compact_* counters and /proc/buddyinfo.
#[test]
fn fixtures_compaction_matches_compact_counters_and_buddyinfo() {
    let mut r = Report::new();
    let (f, t) = fixture("compaction");
    let c = Case::new("compaction", &f, &t);
    fidelity::recording_is_complete(&c, &mut r);
    fidelity_compaction::compaction(&c, &mut r);
    fidelity_compaction::buddyinfo(&c, &mut r);
    match fidelity::analyzer_report(&bin("memana"), &fixtures().join("compaction.parquet")) {
        Ok(report) => fidelity_compaction::analyzer(&c, &report, &mut r),
        Err(e) => r.check("compaction", "memana report --format json", false, e),
    }
    r.finish();
    each(fidelity_compaction::compaction);
    each(fidelity_compaction::buddyinfo);
}

/// The faults fixture (memscen's leak scenario recorded with `--probes
/// +faults`), and every other fixture where the group was recorded, against
/// /proc/vmstat pgfault and pgmajfault.
#[test]
fn fixtures_faults_match_pgfault() {
    let mut r = Report::new();
    let (f, t) = fixture("faults");
    let c = Case::new("faults", &f, &t);
    fidelity::recording_is_complete(&c, &mut r);
    fidelity_faults::faults(&c, &mut r);
    match fidelity::analyzer_report(&bin("memana"), &fixtures().join("faults.parquet")) {
        Ok(report) => fidelity_faults::analyzer(&c, &report, &mut r),
        Err(e) => r.check("faults", "memana report --format json", false, e),
    }
    r.finish();
    each(fidelity_faults::faults);
}

/// The swap group's fixture (memscen's swap scenario recorded with
/// `--probes +swap`), and every other fixture where the group was
/// recorded, against pswpin and pswpout.
#[test]
fn fixtures_swap_matches_pswpin_pswpout() {
    let mut r = Report::new();
    let (f, t) = fixture("swap-inout");
    let c = Case::new("swap-inout", &f, &t);
    fidelity::recording_is_complete(&c, &mut r);
    fidelity_swap::swap(&c, &mut r);
    match fidelity::analyzer_report(&bin("memana"), &fixtures().join("swap-inout.parquet")) {
        Ok(report) => fidelity_swap::analyzer(&c, &report, &mut r),
        Err(e) => r.check("swap-inout", "memana report --format json", false, e),
    }
    r.finish();
    each(fidelity_swap::swap);
}

/// The hugetlb group's fixture (memscen's hugetlb scenario recorded with
/// `--probes +hugetlb`), and every other fixture where the group was
/// recorded, against /proc/meminfo HugePages_* and htlb_buddy_alloc_*.
#[test]
fn fixtures_hugetlb_matches_meminfo_hugepages() {
    let mut r = Report::new();
    let (f, t) = fixture("hugetlb");
    let c = Case::new("hugetlb", &f, &t);
    fidelity::recording_is_complete(&c, &mut r);
    fidelity_hugetlb::hugetlb(&c, &mut r);
    match fidelity::analyzer_report(&bin("memana"), &fixtures().join("hugetlb.parquet")) {
        Ok(report) => fidelity_hugetlb::analyzer(&c, &report, &mut r),
        Err(e) => r.check("hugetlb", "memana report --format json", false, e),
    }
    r.finish();
    each(fidelity_hugetlb::hugetlb);
}

/// The memleak fixture (memscen's heap-leak scenario recorded with
/// `--probes +memleak --comm memscen-heap`): the leak's blocks and
/// outstanding bytes, the churn's frees, and memana leaks naming the chain
/// from the program given back through `--debuginfo` (its file is gone).
#[test]
fn fixtures_memleak_matches_the_known_leak() {
    let (f, t) = fixture("heap-leak");
    let c = Case::new("heap-leak", &f, &t);
    let mut r = Report::new();
    let size = std::fs::metadata(fixtures().join("heap-leak.parquet"))
        .unwrap()
        .len();
    r.check(
        "heap-leak",
        "fixture size under 2 MiB (1.3 MB of it the kernel's symbols)",
        size < 2 << 20,
        format!("{size} bytes"),
    );
    fidelity::recording_is_complete(&c, &mut r);
    fidelity_memleak::memleak(&c, &mut r);
    let file = fixtures().join("heap-leak.parquet");
    fidelity_memleak::analyzer(&c, &bin("memana"), &file, &mut r);
    r.finish();
}

/// The kmemleak fixture (memscen's slab-hold scenario recorded with
/// `--probes +kmemleak --comm memscen-slab`) against the sockets held and
/// /proc/slabinfo.
#[test]
fn fixtures_kmemleak_matches_slabinfo() {
    let (f, t) = fixture("slab-hold");
    let c = Case::new("slab-hold", &f, &t);
    let mut r = Report::new();
    let size = std::fs::metadata(fixtures().join("slab-hold.parquet"))
        .unwrap()
        .len();
    r.check(
        "slab-hold",
        "fixture size under 2 MiB (1.3 MB of it the kernel's symbols)",
        size < 2 << 20,
        format!("{size} bytes"),
    );
    fidelity::recording_is_complete(&c, &mut r);
    fidelity_memleak::kmemleak(&c, &mut r);
    r.finish();
}
