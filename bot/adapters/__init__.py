"""The edges that talk to the outside world: GitHub, Anthropic, Redis."""
