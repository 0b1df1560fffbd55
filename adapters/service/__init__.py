"""The node's use cases: the one service layer between the servicers and the store.

``execute`` executes a command on one product, ``prices`` records an oracle round and
fans it out to every product holding its symbols, ``keeper`` ticks every product (and a
simulated clock), ``audits`` checks the invariants over the store, ``follow`` reads and
follows the log, ``reads`` answers the queries. ``commits`` is the only caller of the
store's group-commit writer. ``use_cases.Service`` holds them all; ``adapters.bootstrap``
builds it.
"""
