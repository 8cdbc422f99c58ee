"""Revisions of the logistics database, oldest first by down_revision."""
