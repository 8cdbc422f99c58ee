"""Revisions of the compliance database, oldest first by down_revision."""
