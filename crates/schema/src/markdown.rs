//! Generates docs/SCHEMA.md from the definitions, so the document cannot
//! disagree with the code (a test compares them).

use crate::{tables, Column, COMMON, META_KEY, SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use std::fmt::Write;

fn one_line(doc: &str) -> String {
    doc.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn column_rows(out: &mut String, prefix: &str, cols: &[Column]) {
    out.push_str("| column | type | unit | null | meaning |\n|---|---|---|---|---|\n");
    for c in cols {
        let _ = writeln!(
            out,
            "| `{}{}` | {} | {} | {} | {} |",
            prefix,
            c.name,
            c.ty.name(),
            c.unit.name(),
            if c.nullable { "yes" } else { "" },
            one_line(c.doc)
        );
    }
    out.push('\n');
}

/// The whole SCHEMA.md text.
pub fn schema_markdown() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Recording schema, version {SCHEMA_VERSION}\n\n\
         <!-- Generated from crates/schema by `memana schema --markdown`; do not edit. -->\n\n\
         A recording is a zstd-compressed Parquet file, or several (segments or rotated \
         files of one recording, each an ordinary Parquet file with its own metadata; \
         `segment` in the metadata numbers them). Every row has the common columns \
         below and belongs to one table, named in `kind`. A file holds the columns of the \
         tables of the probe groups it recorded (and of `stacks`). A table's own columns are \
         named `<table>.<column>` and are null in other tables' rows. Each row group holds \
         one table's rows, so a reader that filters on `kind` skips the rest.\n\n\
         Read one table with any Parquet reader, for example DuckDB:\n\n\
         ```sql\n\
         SELECT ts_ns, pid, comm, \"procstat.rss_anon\" FROM 'run.parquet' WHERE kind = 'procstat';\n\
         ```\n\n\
         The file's key-value metadata holds `{SCHEMA_VERSION_KEY}` (this version) and \
         `{META_KEY}`, a JSON document: host, kernel release, page size, clock anchors, \
         probes asked for and attached (and how), events and losses per probe, the command \
         line, start and end, and /proc/zoneinfo and /proc/vmstat at start and end, for the \
         stretch the file holds; the recording id and segment numbers; the memory cgroups \
         seen (`cgroups`: id → path, resolved when memrec first saw each id, so a cgroup \
         removed during the recording is named; `cgroup_limits`: id → memory limit in bytes \
         as first seen, for those that had one); the task filter (`filter`: `--pid`, \
         `--comm`, `--cgroup`, and for `memrec record -- CMD` the command: its argv, pid, \
         whether only it and the processes it forked were recorded, its exit status); \
         how the recording ended (`end_reason`: `duration`, `signal`, `command exited`, \
         `trigger`, `error: ...`); the `oom_score_adj` \
         memrec set; and, in a flight-recorder file, the trigger \
         (see `FileMeta` in crates/schema/src/meta.rs).\n\n\
         Units: `pages` are base pages of `page_size` bytes; `huge pages` are PMD-sized \
         (`hpage_pmd_nr` base pages), as /proc/vmstat counts THPs.\n"
    );
    out.push_str("## Common columns\n\n");
    column_rows(&mut out, "", COMMON);
    let mut group = "";
    for t in tables() {
        if t.group != group {
            group = t.group;
            let _ = writeln!(out, "## Probe group `{group}`\n");
        }
        let _ = writeln!(out, "### Table `{}`\n", t.name);
        let _ = writeln!(out, "{}\n", one_line(t.doc));
        let _ = writeln!(out, "Source: {}\n", t.sources);
        column_rows(&mut out, &format!("{}.", t.name), t.columns);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_schema_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SCHEMA.md");
        let want = super::schema_markdown();
        if std::env::var_os("MEMTRACE_BLESS").is_some() {
            std::fs::write(path, &want).unwrap_or_else(|e| panic!("write {path}: {e}"));
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/SCHEMA.md is stale: run `MEMTRACE_BLESS=1 cargo test -p memtrace-schema`"
        );
    }
}
