#!/usr/bin/env python3
"""The kernel matrix's summary, as Markdown, from what each kernel's run left
in OUT/LABEL: kernel-release, steps.tsv, probes.json (memrec probes --json in
the guest) and info.json (memana info --format json of its recording, on the
host). Usage: table.py [--architecture] OUT LABEL...

--architecture prints only the kernel x group x attach-method table that
docs/ARCHITECTURE.md holds.
"""
import builtins
import json
import os
import sys


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def find(doc, key):
    """The rows of the first table named `key` anywhere in a JSON document
    (memana's header section has `groups` and `probes`)."""
    if isinstance(doc, dict):
        v = doc.get(key)
        if isinstance(v, list):
            return v
        if isinstance(v, dict) and isinstance(v.get("rows"), list):
            return v["rows"]
        for v in doc.values():
            r = find(v, key)
            if r is not None:
                return r
    elif isinstance(doc, list):
        for v in doc:
            r = find(v, key)
            if r is not None:
                return r
    return None


def read_text(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def architecture(runs, order, status):
    """docs/ARCHITECTURE.md's table: per kernel and group, the attach
    methods that ran, and each program that did not, with why."""
    print("| group | " + " | ".join(r["release"] for r in runs) + " |")
    print("|---|" + "---|" * len(runs))
    groups = []
    for g, _ in order:
        if g not in groups:
            groups.append(g)
    for group in groups:
        cells = []
        for r in runs:
            used, notes, unrecorded = [], [], []
            for g, program in order:
                if g != group:
                    continue
                st = status(r, group, program)
                if st.startswith("attached ("):
                    m = st[len("attached (") : -1]
                    if m not in used:
                        used.append(m)
                elif st.startswith("target present"):
                    unrecorded.append(st[len("target present (") : st.index(")")])
                elif not st.startswith(("standby", "not_asked")):
                    notes.append(f"{program}: {st}")
            if used:
                text = ", ".join(used)
            elif unrecorded:
                # Not a default group: the matrix's recording leaves it out.
                methods = ", ".join(dict.fromkeys(unrecorded))
                text = f"not in the matrix's recording; targets present ({methods})"
            else:
                text = "nothing attached"
            if notes:
                text += "; " + "; ".join(notes)
            cells.append(cell(text))
        print(f"| {group} | " + " | ".join(cells) + " |")


def main():
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    # --architecture prints only its own table (architecture() prints).
    print = (lambda *a, **k: None) if "--architecture" in flags else builtins.print
    out, labels = args[0], args[1:]
    timings = {}
    for line in read_text(os.path.join(out, "timings.tsv")).splitlines():
        name, _, secs = line.partition("\t")
        timings[name] = secs

    runs = []
    for label in labels:
        d = os.path.join(out, label)
        steps = []
        for line in read_text(os.path.join(d, "steps.tsv")).splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                steps.append((parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else ""))
        runs.append(
            {
                "label": label,
                "release": read_text(os.path.join(d, "kernel-release"), f"{label}: did not boot")
                + (" (host)" if label.startswith("host-") else ""),
                "steps": steps,
                "probes": load(os.path.join(d, "probes.json"), []),
                "info": load(os.path.join(d, "info.json"), {}),
                "seconds": timings.get(label, "?"),
            }
        )

    print("## Runs\n")
    print("| kernel | wall time | steps |")
    print("|---|---|---|")
    for r in runs:
        def word(rc, s, why):
            if rc == "0":
                return f"ok ({s} s)"
            if rc == "not run":
                return f"not run: {why}"
            return f"FAILED (exit {rc}, {s} s)"

        steps = ", ".join(f"{n} {word(rc, s, why)}" for n, rc, s, why in r["steps"])
        print(f"| {r['release']} | {r['seconds']} s | {cell(steps) or 'none ran'} |")

    # Rows: every (group, program) any kernel knows, in memrec's order.
    order = []
    for r in runs:
        for g in r["probes"]:
            for p in g.get("programs", []):
                key = (g.get("group", "?"), p.get("program", "?"))
                if key not in order:
                    order.append(key)

    def status(r, group, program):
        avail = None
        method = target = ""
        for g in r["probes"]:
            if g.get("group") == group:
                for p in g.get("programs", []):
                    if p.get("program") == program:
                        avail = p.get("available")
                        method = p.get("method", "")
                        target = p.get("target", "")
        # memana names a probe by its group and target.
        probes = find(r["info"], "probes") or []
        rec = next(
            (
                p
                for p in probes
                if p.get("group") == group
                and (p.get("program") == program or (target and p.get("target") == target))
            ),
            None,
        )
        groups = find(r["info"], "groups") or []
        gm = next((g for g in groups if (g.get("group") or g.get("name")) == group), None)
        if rec is not None:
            m = rec.get("method") or method
            # Files from before `state` existed have only `attached`.
            state = rec.get("state") or ("attached" if rec.get("attached") else "not attached")
            if state == "attached":
                return f"attached ({m})"
            why = rec.get("error") or (gm or {}).get("reason") or ""
            return f"{state} ({m}): {why}" if why else f"{state} ({m})"
        if gm is not None and gm.get("status") in ("failed", "skipped"):
            return f"{gm['status']}: {gm.get('reason') or ''}"
        if avail is None:
            return "?"
        return f"target present ({method}), not recorded" if avail else f"target missing ({method})"

    # Rows per table, from memana's header.rows metrics.
    def rows(r):
        out = {}
        for m in r["info"].get("metrics", []) if isinstance(r["info"], dict) else []:
            if m.get("name") == "header.rows" or str(m.get("key", "")).startswith("header.rows{"):
                t = (m.get("labels") or {}).get("table")
                if t:
                    out[t] = m.get("value")
        return out

    counts = [rows(r) for r in runs]
    tables = []
    for c in counts:
        tables += [t for t in c if t not in tables]
    if tables:
        print("\n## Rows recorded\n")
        print("The matrix's own recording on each kernel (`memana info`).\n")
        print("| table | " + " | ".join(r["release"] for r in runs) + " |")
        print("|---|" + "---|" * len(runs))
        for t in tables:
            print(f"| {t} | " + " | ".join(str(c.get(t, "-")) for c in counts) + " |")

    if "--architecture" in flags:
        architecture(runs, order, status)
        return

    print("\n## Probes\n")
    print("Per program: how the recording attached it, or why not (from the recording's")
    print("metadata, `memana info`), else whether `memrec probes` found its target.\n")
    print("| group | program | " + " | ".join(r["release"] for r in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for group, program in order:
        cells = [cell(status(r, group, program)) for r in runs]
        print(f"| {group} | {program} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
