"""Comment commands: their specs and grammar, and release notes. Pure."""
