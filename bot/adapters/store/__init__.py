"""Every Redis key hookwise has, and the code that reads and writes it."""
