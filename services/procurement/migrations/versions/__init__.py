"""Revisions of the procurement database, oldest first by down_revision."""
