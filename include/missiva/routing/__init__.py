"""Routing: which channel each communication takes, and the contact policy that spans
all journeys."""
