//! `memana report --format html`: the page each fixture gives, opened in
//! headless Chromium. It must render with no script or console error, every
//! chart must draw its data (each marks that with `data-drawn="<points>"`),
//! the charts its data calls for must be there, the screenshot must not be
//! blank, the page must load nothing from the network, and it must stay
//! under 5 MB however large the recording.
//!
//! Without Chromium the test says SKIPPED; with MEMTRACE_REQUIRE_ROOT=1 (CI)
//! that is a failure. MEMTRACE_CHROMIUM names another binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hdr, memana, scenario, Builder};
use memtrace_schema::tables::{faults, oom, paf, procstat, sysstat};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The page limit of issue 16: a page stays under this for any recording.
const PAGE_LIMIT: u64 = 5 << 20;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// fixtures/*.parquet and fixtures/kernels/*/*.parquet, sorted.
fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![repo().join("fixtures")];
    if let Ok(rd) = std::fs::read_dir(repo().join("fixtures/kernels")) {
        dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for d in dirs {
        for e in std::fs::read_dir(&d).expect("fixtures dir").flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.strip_prefix(repo().join("fixtures"))
        .unwrap_or(p)
        .display()
        .to_string()
}

/// The Chromium to use, or None (SKIPPED) when there is none and CI does
/// not require it.
fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("MEMTRACE_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("MEMTRACE_REQUIRE_ROOT").as_deref() != Ok("1"),
        "{} not found: scripts/install-deps.sh installs Debian's chromium",
        p.display()
    );
    eprintln!(
        "SKIPPED: no Chromium at {} (MEMTRACE_CHROMIUM)",
        p.display()
    );
    None
}

/// What Chromium made of a page.
struct Rendered {
    dom: String,
    stderr: String,
    png: Vec<u8>,
    net_log: String,
}

/// Opens `page` in headless Chromium twice (the DOM after the scripts ran,
/// and a screenshot), each with a fresh profile and every background
/// service off, so any network request in the net log is the page's.
fn render(chrome: &Path, page: &Path, dir: &Path) -> Rendered {
    let url = format!(
        "file://{}",
        page.canonicalize().expect("page path").display()
    );
    let run = |what: &str, extra: &[String]| {
        let profile = dir.join(format!("profile-{what}"));
        let out = Command::new(chrome)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=10000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "chromium {what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let net = dir.join("net.json");
    let dom = run(
        "dom",
        &[
            "--dump-dom".into(),
            format!("--log-net-log={}", net.display()),
        ],
    );
    let shot = dir.join("shot.png");
    let png = run(
        "shot",
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,2000".into(),
        ],
    );
    Rendered {
        dom: String::from_utf8_lossy(&dom.stdout).into_owned(),
        stderr: format!(
            "{}{}",
            String::from_utf8_lossy(&dom.stderr),
            String::from_utf8_lossy(&png.stderr)
        ),
        png: std::fs::read(&shot).expect("screenshot written"),
        net_log: std::fs::read_to_string(&net).unwrap_or_default(),
    }
}

/// The network requests the page made, from Chromium's net log: requests
/// with an initiator (the page's origin; the browser's own background
/// requests have "not an origin") to a network scheme.
fn page_requests(net_log: &str) -> Vec<String> {
    let log: Json = serde_json::from_str(net_log).expect("chromium's net log is JSON");
    let types = &log["constants"]["logEventTypes"];
    let start = types["URL_REQUEST_START_JOB"].as_u64().expect("event type");
    let mut by_page = BTreeSet::new();
    let mut urls = std::collections::BTreeMap::new();
    for e in log["events"].as_array().expect("events") {
        let src = e["source"]["id"].as_u64().unwrap_or(u64::MAX);
        let p = &e["params"];
        if let Some(u) = p["url"].as_str() {
            urls.entry(src).or_insert_with(|| u.to_string());
        }
        // The job's begin has the initiator; its end has no params.
        let initiator = p["initiator"].as_str();
        if e["type"].as_u64() == Some(start) && initiator.is_some_and(|i| i != "not an origin") {
            by_page.insert(src);
        }
    }
    by_page
        .iter()
        .filter_map(|s| urls.get(s))
        .filter(|u| {
            ["http:", "https:", "ws:", "wss:", "ftp:"]
                .iter()
                .any(|k| u.starts_with(k))
        })
        .cloned()
        .collect()
}

/// The value of `attr` in the first tag that has `id="<id>"`.
fn attr_of(dom: &str, id: &str, attr: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let tag = &dom[start..end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// Every chart figure's id and `data-drawn`, in page order.
fn charts_drawn(dom: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find("<figure class=\"chart\"") {
        let tag_end = rest[i..].find('>').map_or(rest.len(), |e| i + e);
        let tag = &rest[i..tag_end];
        let get = |k: &str| {
            let key = format!("{k}=\"");
            tag.find(&key).map(|v| {
                let v = v + key.len();
                tag[v..v + tag[v..].find('"').unwrap_or(0)].to_string()
            })
        };
        let id = get("data-chart").unwrap_or_default();
        let drawn = get("data-drawn").and_then(|d| d.parse().ok()).unwrap_or(0);
        out.push((id, drawn));
        rest = &rest[tag_end..];
    }
    out
}

/// The text inside the element with `id`, tags removed.
fn text_of(dom: &str, id: &str) -> String {
    let Some(at) = dom.find(&format!("id=\"{id}\"")) else {
        return String::new();
    };
    let Some(open_end) = dom[at..].find('>') else {
        return String::new();
    };
    let body = &dom[at + open_end + 1..];
    body[..body.find("</").unwrap_or(0)].trim().to_string()
}

/// (pixels, distinct colours, share of pixels that are not near-white).
fn picture(png_bytes: &[u8]) -> (usize, usize, f64) {
    let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = dec.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let px = info.color_type.samples();
    assert!(
        info.bit_depth == png::BitDepth::Eight && px >= 3,
        "screenshot is {:?} {:?}",
        info.color_type,
        info.bit_depth
    );
    let data = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    let n = data.len() / px;
    for p in data.chunks(px) {
        let rgb = (p[0], p[1], p[2]);
        colours.insert(rgb);
        if rgb.0 < 235 || rgb.1 < 235 || rgb.2 < 235 {
            inked += 1;
        }
    }
    (n, colours.len(), inked as f64 / n.max(1) as f64)
}

/// The charts a report's own tables call for (from `--format json`, not
/// from the page's code): id prefixes.
fn expected_charts(json: &Json) -> BTreeSet<&'static str> {
    let rows = |sec: &str, tab: &str| {
        json["sections"][sec]["tables"][tab]["rows"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let mut out = BTreeSet::new();
    if rows("growth", "processes") > 0 {
        out.insert("rss");
    }
    if rows("paf", "zone_timeline") > 0 {
        out.insert("zone-0");
    }
    if rows("reclaim", "lru") > 0 {
        out.insert("reclaim");
    }
    let passes = |sec: &str, tab: &str, col: &str| {
        json["sections"][sec]["tables"][tab]["rows"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r[col].as_u64().unwrap_or(0) > 0))
    };
    if passes("reclaim", "latency", "ends") || passes("reclaim", "latency", "begins") {
        out.insert("reclaim_latency");
    }
    if rows("compaction", "runs") > 0 {
        out.insert("compaction_latency");
    }
    if rows("faults", "by_process") > 0 {
        out.insert("faults");
    }
    if rows("swap", "over_time") > 0 {
        out.insert("swap");
    }
    let suspects = json["sections"]["growth"]["tables"]["processes"]["rows"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["leak_suspect"] == Json::Bool(true)));
    if suspects || rows("leaks", "user_outstanding") > 0 || rows("leaks", "kernel_outstanding") > 0
    {
        out.insert("leaks");
    }
    out
}

/// Everything a page must satisfy in the browser; problems as sentences.
fn check_page(chrome: &Path, page: &Path, dir: &Path, expect: &BTreeSet<&str>) -> Vec<String> {
    let mut bad = Vec::new();
    let html = std::fs::read_to_string(page).expect("page");
    let size = html.len() as u64;
    if size >= PAGE_LIMIT {
        bad.push(format!("page is {size} bytes, over {PAGE_LIMIT}"));
    }
    // Offline: nothing the page refers to is fetched from anywhere.
    for pat in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "url(http",
        "url(//",
        "@import",
        "<link",
        "<iframe",
    ] {
        if html.contains(pat) {
            bad.push(format!("page refers to the network: `{pat}`"));
        }
    }
    let r = render(chrome, page, dir);
    for url in page_requests(&r.net_log) {
        bad.push(format!("the page made a network request: {url:.120}"));
    }
    let errors = text_of(&r.dom, "page-errors");
    if !errors.is_empty() {
        bad.push(format!("the page recorded errors: {errors}"));
    }
    if attr_of(&r.dom, "page-errors", "hidden").is_none() && !r.dom.contains("page-errors") {
        bad.push("no #page-errors element".into());
    }
    for line in r.stderr.lines() {
        let console = line.contains(":CONSOLE");
        if line.contains("Uncaught") || (console && line.to_lowercase().contains("error")) {
            bad.push(format!("console error: {line}"));
        }
    }
    let drawn = charts_drawn(&r.dom);
    for (id, points) in &drawn {
        if *points == 0 {
            bad.push(format!("chart {id} drew no data (data-drawn=0)"));
        }
    }
    for want in expect {
        if !drawn.iter().any(|(id, _)| id == want) {
            bad.push(format!(
                "no chart `{want}` (charts: {:?})",
                drawn.iter().map(|d| &d.0).collect::<Vec<_>>()
            ));
        }
    }
    let (pixels, colours, inked) = picture(&r.png);
    // A blank or failed page is one or two colours; a report with tables
    // and charts has text anti-aliasing, badges and lines in many.
    if colours < 64 || inked < 0.02 {
        bad.push(format!(
            "screenshot looks blank: {pixels} pixels, {colours} colours, {:.1}% not white",
            inked * 100.0
        ));
    }
    bad
}

/// Writes the page of `args` (a report's paths and options) to `out`.
fn write_page(args: &[&str], out: &Path) {
    let mut all: Vec<&str> = vec!["report"];
    all.extend_from_slice(args);
    let out_s = out.to_str().expect("utf-8 path");
    all.extend_from_slice(&["--format", "html", "-o", out_s]);
    let (code, stdout, stderr) = memana(&all);
    assert_eq!(code, 0, "memana {all:?}: {stderr}");
    assert!(
        stdout.is_empty(),
        "-o writes the page, not stdout: {stdout:.200}"
    );
}

#[test]
fn every_fixture_renders_in_chromium() {
    let Some(chrome) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let mut failures = Vec::new();
    let files = fixtures();
    assert!(files.len() >= 7, "fixtures: {files:?}");
    // The charts each kind of fixture is made to show.
    let must: &[(&str, &[&str])] = &[
        ("oom.parquet", &["rss"]),
        ("alloc-fail.parquet", &["zone-0"]),
        ("memcg-reclaim.parquet", &["reclaim", "reclaim_latency"]),
        ("compaction.parquet", &["compaction_latency"]),
        ("faults.parquet", &["faults"]),
        ("swap-inout.parquet", &["swap"]),
        ("leak.parquet", &["leaks"]),
        ("heap-leak.parquet", &["leaks"]),
        ("slab-hold.parquet", &["leaks"]),
    ];
    for (i, f) in files.iter().enumerate() {
        let fname = name(f);
        let dir = tmp.path().join(format!("f{i}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let page = dir.join("report.html");
        let fs = f.to_str().expect("utf-8 path");
        write_page(&[fs], &page);
        let (code, json, err) = memana(&["report", fs, "--format", "json"]);
        assert_eq!(code, 0, "{fname}: {err}");
        let json: Json = serde_json::from_str(&json).expect("json report");
        let mut expect = expected_charts(&json);
        for (file, ids) in must {
            if f.file_name().is_some_and(|n| n == *file) {
                expect.extend(ids.iter().copied());
            }
        }
        let html = std::fs::read_to_string(&page).expect("page");
        // OOM kills and allocation failures are marked on the charts.
        let kills = json["sections"]["oom"]["tables"]["victims"]["rows"]
            .as_array()
            .map_or(0, Vec::len);
        if kills > 0 && !html.contains("\"kind\":\"oom\"") {
            failures.push(format!("{fname}: an OOM kill, and no chart marks it"));
        }
        let fails = json["sections"]["paf"]["tables"]["failures"]["rows"]
            .as_array()
            .map_or(0, Vec::len);
        if fails > 0 && !html.contains("\"kind\":\"fail\"") {
            failures.push(format!(
                "{fname}: allocation failures, and no chart marks them"
            ));
        }
        // The findings open the page, before the charts and the tables.
        let (fi, ci, ti) = (
            html.find("id=\"findings\""),
            html.find("id=\"charts\""),
            html.find("id=\"tables\""),
        );
        if !(fi.is_some()
            && ti.is_some()
            && fi < ti
            && ci.is_none_or(|c| Some(c) > fi && Some(c) < ti))
        {
            failures.push(format!(
                "{fname}: not findings, charts, tables in this order"
            ));
        }
        for b in check_page(&chrome, &page, &dir, &expect) {
            failures.push(format!("{fname}: {b}"));
        }
        if f.file_name().is_some_and(|n| n == "alloc-fail.parquet") {
            let _ = std::fs::copy(
                dir.join("shot.png"),
                std::env::temp_dir().join("memana-html-alloc-fail.png"),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The chart data of a page, as the page's script reads it.
fn chart_data(html: &str) -> Json {
    let data_at = html.find("id=\"chart-data\"").expect("chart data");
    let data = &html[data_at..];
    let json = &data[data.find('>').expect("tag") + 1..data.find("</script>").expect("end")];
    serde_json::from_str(json).expect("chart json")
}

/// One chart's data, by id, from a page written to `page`.
fn page_chart(page: &Path, id: &str) -> Json {
    let html = std::fs::read_to_string(page).expect("page");
    chart_data(&html)
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no chart {id}"))
}

/// The leak chart's dashed series end at what the leaks section reports
/// outstanding at the window's end, and start from nothing: the heap of
/// each process memleak traced, and the kernel's allocations (kmemleak).
#[test]
fn the_leak_chart_ends_at_the_outstanding_bytes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let f = repo().join("fixtures/heap-leak.parquet");
    let fs = f.to_str().expect("utf-8 path");
    let page = tmp.path().join("leak.html");
    write_page(&[fs], &page);
    let (code, json, err) = memana(&["report", fs, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: Json = serde_json::from_str(&json).expect("json report");
    let metric = |name: &str| {
        json["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["key"] == name))
            .and_then(|m| m["value"].as_f64())
            .unwrap_or_else(|| panic!("no metric {name}"))
    };
    // Per tgid, from the table of outstanding stacks.
    let mut user: BTreeMap<u64, f64> = BTreeMap::new();
    for r in json["sections"]["leaks"]["tables"]["user_outstanding"]["rows"]
        .as_array()
        .expect("user_outstanding rows")
    {
        *user.entry(r["tgid"].as_u64().expect("tgid")).or_default() +=
            r["bytes"].as_f64().expect("bytes");
    }
    assert!(!user.is_empty(), "the fixture has outstanding heap");
    let chart = page_chart(&page, "leaks");
    let series = chart["series"].as_array().expect("series");
    // Two values per bucket, its minimum and maximum.
    let ends = |label: &str| -> (f64, f64, f64) {
        let s = series
            .iter()
            .find(|s| s["label"] == label)
            .unwrap_or_else(|| panic!("no series {label}: {series:?}"));
        let v: Vec<f64> = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .filter_map(Json::as_f64)
            .collect();
        assert!(v.len() >= 2 && v.len().is_multiple_of(2), "{label}: {v:?}");
        (v[0], v[v.len() - 2], v[v.len() - 1])
    };
    for (tgid, bytes) in &user {
        let label = format!("memscen-heap ({tgid}) heap");
        let (first, lo, hi) = ends(&label);
        assert_eq!(first, 0.0, "{label} starts from nothing");
        assert!(
            lo <= *bytes && *bytes <= hi,
            "{label}: the last bucket holds {lo}..{hi}, the table {bytes} outstanding"
        );
    }
    let kernel = metric("leaks.kernel.outstanding_bytes");
    let (first, lo, hi) = ends("kernel allocations outstanding");
    assert_eq!(first, 0.0);
    assert!(
        lo <= kernel && kernel <= hi,
        "kernel: the last bucket holds {lo}..{hi}, the report {kernel} outstanding"
    );
    assert_eq!(
        user.values().sum::<f64>(),
        metric("leaks.user.outstanding_bytes"),
        "the table and the metric agree"
    );
}

#[test]
fn a_fleet_page_names_hosts() {
    let Some(chrome) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let fx = repo().join("fixtures");
    let a = fx.join("oom.parquet");
    let b = fx.join("memcg-reclaim.parquet");
    let page = tmp.path().join("fleet.html");
    write_page(
        &[a.to_str().expect("path"), b.to_str().expect("path")],
        &page,
    );
    // Series carry their host: `host:comm (tgid)`.
    let rss = page_chart(&page, "rss");
    let labels: Vec<&str> = rss["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|s| s["label"].as_str())
        .collect();
    assert!(
        !labels.is_empty() && labels.iter().all(|l| l.contains(':')),
        "{labels:?}"
    );
    let bad = check_page(&chrome, &page, tmp.path(), &["rss"].into_iter().collect());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

const MIB: u64 = 1 << 20;

/// A recording of a few million rows: many processes sampled often, zone
/// snapshots, faults, reclaim, allocation failures and OOM kills by the
/// hundred.
fn big_recording(path: &Path) -> usize {
    let mut b: Builder = scenario::build(20);
    let start = scenario::START;
    let sec = scenario::SEC;
    let span = 60 * sec;
    let mut rng = scenario::Rng::new(7);
    // 1000 processes x 1500 samples.
    for i in 0..1_500_000i64 {
        let tg = 1000 + (i % 1000) as u32;
        let t = start + (i * span) / 1_500_000;
        let anon = (u64::from(tg) % 97) * MIB + rng.below(1 << 24);
        b.add(
            hdr(t, tg, tg, &format!("p{tg}")),
            &procstat::procstat::Row {
                reason: "tick".into(),
                vsize: anon * 4,
                rss_peak: anon,
                rss_anon: anon,
                rss_file: MIB,
                rss_shmem: 0,
                swap: 0,
                data: anon,
                stack: 4096,
                pgtables: 4096,
            },
        );
    }
    for i in 0..600_000i64 {
        let t = start + (i * span) / 600_000;
        b.add(
            hdr(t, 7, 7, "faulter"),
            &faults::fault::Row {
                address: 0x7000_0000 + (i as u64) * 4096,
                ip: 0x40_1000,
                user: true,
                major: i % 50 == 0,
                error_code: Some(6),
                access: Some("write".into()),
                cause: Some("not-present".into()),
                vma: "anon".into(),
                file: None,
            },
        );
    }
    for i in 0..200_000i64 {
        let t = start + (i * span) / 200_000;
        for (zname, zidx) in [("DMA32", 1u32), ("Normal", 2u32)] {
            b.add(
                hdr(t, 0, 0, "memrec"),
                &sysstat::zone::Row {
                    node: 0,
                    zone: zname.into(),
                    zone_idx: zidx,
                    trigger: "interval".into(),
                    free: 20_000 + rng.below(10_000),
                    min: 8_000,
                    low: 10_000,
                    high: 12_000,
                    promo: 14_000,
                    boost: 0,
                    spanned: 1_000_000,
                    present: 1_000_000,
                    managed: 980_000,
                    cma: 0,
                    free_cma: 0,
                    reserved_highatomic: 0,
                    reserve: None,
                    ..Default::default()
                },
            );
        }
    }
    for i in 0..5_000i64 {
        let t = start + (i * span) / 5_000 + 17;
        b.add(
            hdr(t, 9, 9, "failer"),
            &paf::paf::Row {
                order: (i % 4) as u32,
                gfp_flags: 0xcc0,
                gfp: "GFP_KERNEL".into(),
                migratetype: 0,
                migratetype_name: "MIGRATE_UNMOVABLE".into(),
                highest_zone: "Normal".into(),
                node: 0,
            },
        );
    }
    for i in 0..500i64 {
        let t = start + (i * span) / 500 + 23;
        b.add(
            hdr(t, 9, 9, "failer"),
            &oom::oom_victim::Row {
                victim_pid: 1000 + (i % 1000) as u32,
                victim_comm: Some(format!("p{}", 1000 + i % 1000).into()),
                ..Default::default()
            },
        );
    }
    b.rows_per_group = 100_000;
    b.count();
    b.write(path);
    b.rows.len()
}

#[test]
fn a_page_of_millions_of_rows_stays_small() {
    let tmp = tempfile::tempdir().expect("tmp");
    let rec = tmp.path().join("big.parquet");
    let rows = big_recording(&rec);
    assert!(rows > 2_000_000, "{rows} rows");
    let page = tmp.path().join("big.html");
    write_page(&[rec.to_str().expect("path")], &page);
    let size = std::fs::metadata(&page).expect("page").len();
    eprintln!("{rows} rows: a page of {size} bytes");
    assert!(size < PAGE_LIMIT, "{size} bytes from {rows} rows");
    // Every series is cut to at most ~2000 points.
    let html = std::fs::read_to_string(&page).expect("page");
    let charts = chart_data(&html);
    for c in charts.as_array().expect("charts") {
        let xs = c["xs"].as_array().map_or(0, Vec::len);
        assert!(xs <= 2002, "{}: {xs} points", c["id"]);
        let marks = c["marks"].as_array().map_or(0, Vec::len);
        assert!(marks <= 1000, "{}: {marks} marks", c["id"]);
    }
    let Some(chrome) = chromium() else {
        return;
    };
    let expect: BTreeSet<&str> = ["rss", "zone-0", "faults", "reclaim"].into_iter().collect();
    let bad = check_page(&chrome, &page, tmp.path(), &expect);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The offline check above sees a page's requests (and not the browser's
/// own): a page that loads an image and fetches a URL is caught.
#[test]
fn the_net_log_shows_a_pages_requests() {
    let Some(chrome) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let page = tmp.path().join("online.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>x</p><img src=\"http://127.0.0.1:9/x.png\">\
         <script>fetch('https://example.invalid/a').catch(function () {});</script></body></html>",
    )
    .expect("page");
    let r = render(&chrome, &page, tmp.path());
    let reqs = page_requests(&r.net_log);
    assert!(
        reqs.iter().any(|u| u.starts_with("http://127.0.0.1:9/"))
            && reqs
                .iter()
                .any(|u| u.starts_with("https://example.invalid/")),
        "{reqs:?}"
    );
}

/// Process names are the recording's, so anyone's: markup in one stays
/// text on the page, in the tables, the chart legends and the markers.
#[test]
fn markup_in_a_process_name_stays_text() {
    let tmp = tempfile::tempdir().expect("tmp");
    let rec = tmp.path().join("hostile.parquet");
    let mut b = scenario::build(1);
    for (i, comm) in ["<img src=x>", "</script><b>"].iter().enumerate() {
        for k in 0..20i64 {
            b.add(
                hdr(
                    scenario::START + k * scenario::SEC,
                    900 + i as u32,
                    900 + i as u32,
                    comm,
                ),
                &procstat::procstat::Row {
                    reason: "tick".into(),
                    rss_anon: (4000 + k as u64) * MIB,
                    rss_file: MIB,
                    ..Default::default()
                },
            );
        }
    }
    b.count();
    b.write(&rec);
    let page = tmp.path().join("hostile.html");
    write_page(&[rec.to_str().expect("path")], &page);
    let html = std::fs::read_to_string(&page).expect("page");
    // The page's own four scripts end; nothing else does.
    assert_eq!(html.matches("</script>").count(), 4);
    assert!(!html.contains("<img") && !html.contains("<b>"));
    assert!(
        html.contains("&lt;img src=x&gt;"),
        "the name is in the tables"
    );
    let Some(chrome) = chromium() else {
        return;
    };
    let r = render(&chrome, &page, tmp.path());
    assert!(!r.dom.contains("<img") && !r.dom.contains("<b>"));
    assert!(text_of(&r.dom, "page-errors").is_empty());
    // The legend has the name as text (uPlot sets textContent).
    assert!(r.dom.contains("&lt;img src=x&gt; (900)"), "legend");
}
