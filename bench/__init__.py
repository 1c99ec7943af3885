"""Benchmarks, one command each, run from the repo root: `python -m bench.wrk` (ingress),
`python -m bench.burst` (a burst of new issues), `python -m bench.diff_budget` (what summaries read).
Not part of the installed package."""
