"""Benchmarks. Not part of the installed package; run from the repo root (`python -m bench.ingress`)."""
