"""Revisions of the marketing database, oldest first by down_revision."""
