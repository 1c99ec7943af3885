"""Triage: the request, the batches, reading the answers, hostile text, what to write. Pure."""
