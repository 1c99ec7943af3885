"""The web process: verify, decide, enqueue, answer."""
