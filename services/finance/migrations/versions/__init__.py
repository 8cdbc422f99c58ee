"""Revisions of the finance database, oldest first by down_revision."""
