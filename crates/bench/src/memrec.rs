//! What membench asks memrec: its probe groups and the tracepoints they
//! attach to (`memrec probes --json`), so the suite and the other tools
//! follow memrec's registry instead of a copy of it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// memrec's probe groups and tracepoints, in its order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probes {
    pub groups: Vec<String>,
    /// `system:event` of every program of the default groups (what
    /// `memrec record` records without `--probes`) attached to a tracepoint
    /// (not the timers and test-run programs), each once.
    pub tracepoints: Vec<String>,
    /// Each group's tracepoints, the same way.
    pub group_tracepoints: BTreeMap<String, Vec<String>>,
    /// Program name → its group.
    pub program_group: BTreeMap<String, String>,
}

impl Probes {
    /// The group of a BPF program as `bpftool prog show` names it (names
    /// longer than 15 bytes may come truncated from older bpftools).
    pub fn group_of(&self, program: &str) -> Option<&str> {
        self.program_group
            .get(program)
            .or_else(|| {
                (program.len() >= 15)
                    .then(|| {
                        self.program_group
                            .iter()
                            .find(|(p, _)| p.starts_with(program))
                            .map(|(_, g)| g)
                    })
                    .flatten()
            })
            .map(String::as_str)
    }
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
        let default_on = g["default_on"].as_bool().unwrap_or(true);
        let mut tps: Vec<String> = Vec::new();
        for prog in g["programs"].as_array().into_iter().flatten() {
            if let Some(n) = prog["program"].as_str() {
                p.program_group.insert(n.to_string(), name.to_string());
            }
            let on_tracepoint = matches!(prog["method"].as_str(), Some("tp" | "tp_btf"));
            if let (true, Some(tp)) = (on_tracepoint, prog["target"].as_str()) {
                if !tps.iter().any(|t| t == tp) {
                    tps.push(tp.to_string());
                }
                if default_on && !p.tracepoints.iter().any(|t| t == tp) {
                    p.tracepoints.push(tp.to_string());
                }
            }
        }
        p.group_tracepoints.insert(name.to_string(), tps);
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
                {"program": "oom_mark_victim", "target": "oom:mark_victim", "method": "tp"}]},
            {"group": "faults", "default_on": false, "programs": [
                {"program": "faults_min", "target": "page-faults-min", "method": "perf_sw"},
                {"program": "faults_exc_kernel", "target": "exceptions:page_fault_kernel", "method": "tp_btf"}]}
        ]"#;
        let p = parse(json).unwrap();
        assert_eq!(p.groups, ["procstat", "sysstat", "oom", "faults"]);
        // What `memrec record` records without --probes: not faults'.
        assert_eq!(p.tracepoints, ["sched:sched_switch", "oom:mark_victim"]);
        assert_eq!(
            p.group_tracepoints["faults"],
            ["exceptions:page_fault_kernel"]
        );
        assert_eq!(p.group_of("faults_min"), Some("faults"));
        assert_eq!(p.group_of("faults_exc_kern"), Some("faults"));
        assert_eq!(p.group_of("procstat_tick"), Some("procstat"));
        assert_eq!(p.group_of("nope"), None);
        assert!(parse(b"[]").is_err());
        assert!(parse(b"not json").is_err());
    }
}
