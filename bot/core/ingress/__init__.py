"""Ingress: what a delivery is, whether it is work, and the typed job it becomes. Pure."""
