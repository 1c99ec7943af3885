"""How jobs run and data lives: retries, breakers, fair share, health, forgetting. Pure."""
