"""The use cases: what hookwise does for each kind of job. Each takes its typed job and returns an Outcome."""
