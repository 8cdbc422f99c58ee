"""The marketing department service."""
