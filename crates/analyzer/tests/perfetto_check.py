#!/usr/bin/env python3
"""Reads a trace written by `memana export --perfetto` with Perfetto's own
protos (the `perfetto` package on PyPI) and prints what it holds as JSON, for
crates/analyzer/tests/perfetto.rs to compare with the recording's rows.

Exit 3 (and a line on stderr) when the `perfetto` package is missing.
"""

import json
import sys

try:
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (
        Trace,
        TrackEvent,
    )
except ImportError as e:  # the caller decides whether that is a skip
    print(f"no perfetto module: {e}", file=sys.stderr)
    sys.exit(3)


def main(path):
    trace = Trace()
    with open(path, "rb") as f:
        trace.ParseFromString(f.read())

    tracks = {}  # uuid -> descriptor
    events = []
    clocks = {}
    seq_ids = set()
    clock_ids = set()
    first_flags = None
    for i, p in enumerate(trace.packet):
        if i == 0:
            first_flags = p.sequence_flags
        seq_ids.add(p.trusted_packet_sequence_id)
        which = p.WhichOneof("data")
        if which == "track_descriptor":
            d = p.track_descriptor
            if d.uuid in tracks:
                raise SystemExit(f"track uuid {d.uuid} declared twice")
            tracks[d.uuid] = d
        elif which == "track_event":
            if not p.HasField("timestamp"):
                raise SystemExit(f"packet {i}: a track event without a timestamp")
            clock_ids.add(p.timestamp_clock_id)
            events.append((p.timestamp, p.track_event))
        elif which == "clock_snapshot":
            for c in p.clock_snapshot.clocks:
                clocks[str(c.clock_id)] = c.timestamp

    def path(uuid):
        """A track's name with its parents', e.g. `memory node 0/zone Normal/min`."""
        names = []
        while uuid in tracks:
            d = tracks[uuid]
            if d.HasField("process"):
                names.append(f"process {d.process.pid}")
            elif d.HasField("thread"):
                names.append(f"thread {d.thread.tid}")
            else:
                names.append(d.name)
            uuid = d.parent_uuid if d.HasField("parent_uuid") else None
        return "/".join(reversed(names))

    processes = {}
    threads = {}
    counter_tracks = {}
    for u, d in tracks.items():
        if d.HasField("process"):
            processes[str(d.process.pid)] = d.process.process_name
        if d.HasField("thread"):
            threads[str(d.thread.tid)] = {
                "pid": d.thread.pid,
                "name": d.thread.thread_name,
            }
        if d.HasField("counter"):
            counter_tracks[path(u)] = {
                "unit": d.counter.unit,
                "unit_name": d.counter.unit_name,
            }

    counters = {}  # track path -> [[ts, value], ...]
    slices = {}  # name -> count of begins
    ends = 0
    unmatched_ends = 0
    instants = {}  # track path -> [name, ...]
    instant_args = {}  # first instant per track path: its annotations
    open_ = {}  # track uuid -> stack of begin names
    bad = []
    # Pair begins and ends as the trace processor does: per track, in time
    # order, events at the same time in the order written.
    for ts, e in sorted(events, key=lambda x: x[0]):
        t = e.track_uuid
        if t not in tracks:
            bad.append(f"event on undeclared track {t}")
            continue
        if e.type == TrackEvent.TYPE_COUNTER:
            if not tracks[t].HasField("counter"):
                bad.append(f"counter on non-counter track {path(t)}")
            v = (
                e.double_counter_value
                if e.HasField("double_counter_value")
                else e.counter_value
            )
            counters.setdefault(path(t), []).append([ts, v])
        elif e.type == TrackEvent.TYPE_SLICE_BEGIN:
            slices[e.name] = slices.get(e.name, 0) + 1
            open_.setdefault(t, []).append(e.name)
        elif e.type == TrackEvent.TYPE_SLICE_END:
            ends += 1
            if not open_.get(t):
                unmatched_ends += 1
            else:
                open_[t].pop()
        elif e.type == TrackEvent.TYPE_INSTANT:
            p = path(t)
            instants.setdefault(p, []).append(e.name)
            if p not in instant_args:
                args = {}
                for a in e.debug_annotations:
                    v = a.WhichOneof("value")
                    args[a.name] = getattr(a, v) if v else None
                instant_args[p] = args
        else:
            bad.append(f"event of type {e.type}")
    unended = sum(len(s) for s in open_.values())
    # Counter values in time order per track (already sorted above).
    print(
        json.dumps(
            {
                "packets": len(trace.packet),
                "first_sequence_flags": first_flags,
                "sequence_ids": sorted(seq_ids),
                "event_clock_ids": sorted(clock_ids),
                "clock_snapshot": clocks,
                "processes": processes,
                "threads": threads,
                "counter_tracks": counter_tracks,
                "counters": counters,
                "slices": slices,
                "slice_ends": ends,
                "unmatched_ends": unmatched_ends,
                "unended": unended,
                "instants": instants,
                "instant_args": instant_args,
                "bad": bad,
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
