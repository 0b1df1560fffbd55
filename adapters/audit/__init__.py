"""The audit of a store (SPEC §3, §4): ``rows`` reads a share of the log, ``engine`` replays a
share (hash chain, idempotency, snapshots, and every law through ``invariants.log``'s replay),
``parallel`` runs shares in several processes, ``report`` merges them into one report."""
