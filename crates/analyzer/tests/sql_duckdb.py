"""DuckDB, through the shipped SQL (sql/duckdb/views.sql and report.sql),
against `memana report --format json` on the same recordings.

    python3 sql_duckdb.py MEMANA REPO FILE...

For each recording: every figure report.sql computes must equal memana's
figure of the same key (the keys of `memana metrics`): counts, pages and
bytes exactly; latencies (ns / 1e6), ratios and means exactly too, since
both sides do the same IEEE operations on the same integers. A figure
memana does not print is accepted only when it is 0 (memana leaves out the
figures of a probe group that was not recorded; SQL counts its no rows).
Every figure memana prints in a family report.sql computes (the same name
and labels) must be there, unless it is 0 or null (a GROUP BY makes no row
for a group with no rows, and a percentile of nothing is null). The rows of
memana's OOM victims and growth processes tables (every row: --top 0) must
be report.sql's memtrace_report_rows, cell for cell. Then all
the recordings as one fleet: each recording's figures as on its own, and
host and recording tell them apart (all files are read at once, as a fleet,
and two of them again on their own).

Exit 0 when everything agrees, 1 on a difference (each printed), 77 when
the duckdb package is missing.
"""
import json
import re
import subprocess
import sys

try:
    import duckdb
except ImportError:
    print("SKIPPED: the duckdb Python package is not installed (pip install duckdb)")
    sys.exit(77)

# Families (metric name, label names) report.sql must compute at least,
# so a query dropped from it fails here rather than shrinking the check.
REQUIRED = {
    ("header.rows", ("table",)),
    ("oom.kills", ()),
    ("oom.kills", ("comm",)),
    ("paf.failures", ()),
    ("paf.failures", ("order",)),
    ("paf.failures", ("zone",)),
    ("reclaim.direct.p99_ms", ()),
    ("reclaim.memcg.p50_ms", ()),
    ("reclaim.scanned", ()),
    ("reclaim.kswapd.wakeups", ("node",)),
    ("reclaim.slab.calls", ("shrinker",)),
    ("compaction.stall_p99_ms", ()),
    ("faults.major", ("vma",)),
    ("swap.in_pages", ()),
    ("swap.out_pages", ()),
    ("growth.peak_rss_bytes", ()),
    ("sysstat.nr_free_pages.mean", ("node",)),
    ("mappings.calls", ("call",)),
}

# memana's tables report.sql fills (memtrace_report_rows), with the columns
# that name a row; each must have the same rows, cell for cell.
TABLES = {
    ("oom", "victims"): ["ts_ns", "victim_pid"],
    ("growth", "processes"): ["tgid", "comm"],
}

KEY = re.compile(r'^([^{]+)(?:\{(.*)\})?$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def family(key):
    m = KEY.match(key)
    labels = tuple(sorted(n for n, _ in LABEL.findall(m.group(2) or "")))
    return m.group(1), labels


def memana_report(memana, path):
    """memana's figures (metric key: value) and its report's sections."""
    out = subprocess.run([memana, "report", path, "--format", "json", "--top", "0"],
                         check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    return {m["key"]: m["value"] for m in d["metrics"]}, d["sections"]


def text(v):
    """A JSON cell as DuckDB's text of it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return None if v is None else str(v)


def compare_rows(name, mine, sections):
    """SQL's table cells against memana's table rows, both ways."""
    bad = []
    want = {}
    for (section, tbl, key, col), v in mine.items():
        want.setdefault((section, tbl), {}).setdefault(key, {})[col] = v
    for (section, tbl), keys in TABLES.items():
        rows = want.pop((section, tbl), {})
        theirs = sections.get(section, {}).get("tables", {}).get(tbl, {}).get("rows", [])
        by_key = {",".join(f"{k}={r.get(k)}" for k in keys): r for r in theirs}
        for key, cells in rows.items():
            r = by_key.get(key)
            if r is None:
                bad.append(f"{name}: {section}.{tbl} [{key}]: memana has no such row")
                continue
            for col, v in cells.items():
                if text(r.get(col)) != v:
                    bad.append(f"{name}: {section}.{tbl} [{key}] {col}: DuckDB {v!r}, "
                               f"memana {r.get(col)!r}")
        for key in by_key:
            if key not in rows:
                bad.append(f"{name}: {section}.{tbl} [{key}]: DuckDB has no such row")
    for section, tbl in want:
        bad.append(f"{name}: {section}.{tbl}: not a table this test knows (add it to TABLES)")
    return bad


def duckdb_figures(repo, paths):
    """Figures per (host, recording), and each recording's files."""
    con = duckdb.connect()
    con.execute("SET VARIABLE memtrace_files = ?", [list(paths)])
    for f in ("views.sql", "report.sql"):
        with open(f"{repo}/sql/duckdb/{f}") as fh:
            con.execute(fh.read())
    rows = con.execute(
        "SELECT host, recording, figure, value FROM memtrace_report").fetchall()
    out = {}
    for host, rec, key, value in rows:
        d = out.setdefault((host, rec), {})
        if key in d:
            raise SystemExit(f"report.sql gives {key} twice for {host}/{rec}")
        d[key] = value
    cells = {}
    for host, rec, section, tbl, key, col, value in con.execute(
            "SELECT host, recording, section, tbl, row_key, name, value "
            "FROM memtrace_report_rows").fetchall():
        cells.setdefault((host, rec), {})[(section, tbl, key, col)] = value
    files = {}
    for name, host, rec in con.execute(
            "SELECT filename, host, recording FROM memtrace_files").fetchall():
        files.setdefault((host, rec), []).append(name)
    return out, cells, files


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return float(a) == float(b)


def compare(name, mine, theirs, families):
    bad = []
    for key, v in sorted(mine.items()):
        if key in theirs:
            if not same(v, theirs[key]):
                bad.append(f"{name}: {key}: DuckDB {v!r}, memana {theirs[key]!r}")
        elif v not in (0, None):
            bad.append(f"{name}: {key}: DuckDB {v!r}, memana has no such figure")
    for key, v in sorted(theirs.items()):
        if family(key) in families and key not in mine and v not in (0, None):
            bad.append(f"{name}: {key}: memana {v!r}, DuckDB has no such figure")
    return bad


def main():
    memana, repo, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    bad = []
    # Every file at once, as a fleet: one DuckDB run.
    fleet, fleet_cells, fleet_files = duckdb_figures(repo, files)
    if len(fleet) != len(files):
        bad.append(f"fleet: {len(fleet)} recordings in {len(files)} files")
    computed = {family(k) for figures in fleet.values() for k in figures}
    missing = REQUIRED - computed
    if missing:
        bad.append(f"report.sql computes none of {sorted(missing)}")
    for rec, mine in sorted(fleet.items()):
        [path] = fleet_files[rec]
        theirs, sections = memana_report(memana, path)
        b = compare(path, mine, theirs, computed)
        b += compare_rows(path, fleet_cells.get(rec, {}), sections)
        bad += b
        both = sum(1 for k in mine if k in theirs)
        print(f"{path}: {len(mine)} figures ({both} of them memana's) and "
              f"{len(fleet_cells.get(rec, {}))} table cells, {len(b)} differ "
              f"({rec[0]} / {rec[1]})")
    # Two files on their own: the same figures as in the fleet.
    for path in files[:2]:
        alone, cells, _ = duckdb_figures(repo, [path])
        for rec, mine in alone.items():
            if mine != fleet.get(rec) or cells.get(rec) != fleet_cells.get(rec):
                bad.append(f"{path}: its figures alone differ from the fleet's")
    print(f"fleet of {len(files)} files: {len(fleet)} recordings")
    for b in bad:
        print("DIFF", b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
