"""Revisions of the sales database, oldest first by down_revision."""
