"""Revisions of the gateway database, oldest first by down_revision."""
