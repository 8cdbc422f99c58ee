"""The sales department service."""
