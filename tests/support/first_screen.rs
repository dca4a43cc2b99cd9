//! What the first screen of `memana report` must name for each memscen
//! scenario: its event, read from the scenario's truth file. Shared by the
//! analyzer's fixture tests and the root tests that record each scenario.

use serde_json::Value;

/// Lines of the report a reader sees first.
pub const LINES: usize = 25;

/// A memory cgroup's path as memana names it: relative to the memory
/// controller's root (memscen's truth has the mounted path).
pub fn cgroup_path(mounted: &str) -> String {
    for root in [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ] {
        if let Some(rest) = mounted.strip_prefix(root) {
            if rest.starts_with('/') {
                return rest.to_string();
            }
        }
    }
    mounted.to_string()
}

fn worker(truth: &Value) -> (u64, String) {
    let w = &truth["workers"][0];
    (
        w["pid"].as_u64().unwrap_or(0),
        w["comm"].as_str().unwrap_or("").to_string(),
    )
}

fn memcg(truth: &Value) -> Option<String> {
    truth["workers"][0]["cgroup"]
        .as_str()
        .or_else(|| truth["cgroup"].as_str())
        .map(cgroup_path)
}

/// The phrases the first [`LINES`] lines must hold for this truth's
/// scenario (each a fact of the truth file); `groups` are the probe groups
/// the recording has, since a scenario is told by what was recorded.
pub fn expected(truth: &Value, groups: &[&str]) -> Vec<String> {
    let scenario = truth["scenario"].as_str().unwrap_or("");
    let (pid, comm) = worker(truth);
    let has = |g: &str| groups.contains(&g);
    let mut out = Vec::new();
    match scenario {
        "oom" => {
            let victim = truth["oom"]["victim_pid"].as_u64().unwrap_or(pid);
            out.push("OOM kill".to_string());
            out.push(format!("pid {victim}"));
            out.push("memcg".to_string());
            if let Some(p) = memcg(truth) {
                out.push(p);
            }
        }
        "memcg-reclaim" | "swap" => {
            if let Some(p) = memcg(truth) {
                out.push(format!("Memcg reclaim in memcg {p}"));
            }
            if scenario == "swap" && has("swap") {
                out.push("Swap:".to_string());
            }
        }
        "alloc-fail" => {
            let order = truth["alloc_fail"]["order"].as_u64().unwrap_or(9);
            out.push(format!("order-{order} allocation failure"));
        }
        "leak" => out.push(format!("Leak suspect: {comm} pid {pid}")),
        "heap-leak" => out.push(format!("{comm} pid {pid}")),
        "fragment" => out.push("Direct compaction".to_string()),
        "mappings" => {
            out.push("address-space calls failed".to_string());
            out.push(format!("{comm} pid {pid}"));
        }
        "hugetlb" => {
            let p = truth["hugetlb"]["pid"].as_u64().unwrap_or(pid);
            out.push("hugetlb page faults".to_string());
            out.push(format!("pid {p}"));
        }
        "slab-hold" => out.push("sock_inode_cache".to_string()),
        _ => {}
    }
    out
}

/// Checks that the report's first [`LINES`] lines hold every expected
/// phrase; the error names the missing ones and shows the screen.
pub fn check(report: &str, truth: &Value, groups: &[&str]) -> Result<(), String> {
    let screen: String = report
        .lines()
        .take(LINES)
        .map(|l| format!("{l}\n"))
        .collect();
    // Findings wrap inside their column: join the screen's words so a phrase
    // split over two lines is still found.
    let words = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    let missing: Vec<String> = expected(truth, groups)
        .into_iter()
        .filter(|p| !words.contains(p.as_str()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the first {LINES} lines of the report do not name {missing:?}:\n{screen}"
        ))
    }
}
