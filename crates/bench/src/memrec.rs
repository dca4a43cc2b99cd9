//! What membench asks memrec: its probe groups and the tracepoints they
//! attach to (`memrec probes --json`), so the suite and the other tools
//! follow memrec's registry instead of a copy of it.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// memrec's probe groups and tracepoints, in its order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probes {
    pub groups: Vec<String>,
    /// `system:event` of every program attached to a tracepoint (not the
    /// timers and test-run programs), each once.
    pub tracepoints: Vec<String>,
}

/// Runs `memrec probes --json`.
pub fn probes(memrec: &Path) -> Result<Probes> {
    let out = Command::new(memrec)
        .args(["probes", "--json"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} probes --json", memrec.display()))?;
    if !out.status.success() {
        bail!("{} probes --json failed ({})", memrec.display(), out.status);
    }
    parse(&out.stdout)
}

/// Reads the output of `memrec probes --json`.
pub fn parse(json: &[u8]) -> Result<Probes> {
    let v: serde_json::Value =
        serde_json::from_slice(json).context("reading memrec probes --json")?;
    let mut p = Probes::default();
    for g in v.as_array().into_iter().flatten() {
        let Some(name) = g["group"].as_str() else {
            continue;
        };
        p.groups.push(name.to_string());
        for prog in g["programs"].as_array().into_iter().flatten() {
            let on_tracepoint = matches!(prog["method"].as_str(), Some("tp" | "tp_btf"));
            if let (true, Some(tp)) = (on_tracepoint, prog["target"].as_str()) {
                if !p.tracepoints.iter().any(|t| t == tp) {
                    p.tracepoints.push(tp.to_string());
                }
            }
        }
    }
    if p.groups.is_empty() {
        bail!("memrec probes --json listed no group");
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_tracepoints_come_from_memrec_probes_json() {
        let json = br#"[
            {"group": "procstat", "programs": [
                {"program": "procstat_switch", "target": "sched:sched_switch", "method": "tp_btf"},
                {"program": "procstat_tick", "target": "cpu-clock", "method": "cpu_timer"},
                {"program": "procstat_synthetic", "target": "load test, run by memrec", "method": "test_run"}]},
            {"group": "sysstat", "programs": [
                {"program": "sysstat_oom", "target": "oom:mark_victim", "method": "tp"}]},
            {"group": "oom", "programs": [
                {"program": "oom_mark_victim", "target": "oom:mark_victim", "method": "tp"}]}
        ]"#;
        let p = parse(json).unwrap();
        assert_eq!(p.groups, ["procstat", "sysstat", "oom"]);
        assert_eq!(p.tracepoints, ["sched:sched_switch", "oom:mark_victim"]);
        assert!(parse(b"[]").is_err());
        assert!(parse(b"not json").is_err());
    }
}
