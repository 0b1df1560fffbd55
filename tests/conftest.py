"""Hypothesis profiles: ``dev`` (fast, the default), ``ci`` (derandomized, more examples;
``.ci/run`` selects it), ``deep`` (``make deep``) and ``mutate`` (``make mutate``: the dev
budget, derandomized and without the example database, so that every mutant meets the same
examples and a run's verdicts repeat). Select with HYPOTHESIS_PROFILE."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci",
    max_examples=150,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "mutate",
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # No shrinking: a mutant is killed by its first failing example. Shrinking it would only
    # make the failure readable, minutes a mutant for a state machine (mutmut then counted
    # the slowest as timeouts).
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
