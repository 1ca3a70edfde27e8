"""Delivery: the outbox that hands composed communications to their channels, and what
comes back."""
