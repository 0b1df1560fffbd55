"""The event log: the eventsourcing application around the pure domain."""
