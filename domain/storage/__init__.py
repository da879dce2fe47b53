"""The event store as the eventsourcing library sees it: the database URL, the msgpack
transcoder, the hash-chained mapper, recorders and pools, schema creation, and the write
path's helpers (committed copies, per-case locks, retries).
"""
