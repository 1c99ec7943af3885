"""What calls cost: prices, the cost ledger's rows and the daily budget. Pure."""
