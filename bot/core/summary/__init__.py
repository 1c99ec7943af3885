"""Summaries: what a merged pull request's summary reads (the diff budget) and may claim. Pure."""
