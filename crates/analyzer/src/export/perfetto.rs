//! A native Perfetto trace (TracePacket/TrackEvent) of a recording.
