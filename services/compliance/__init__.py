"""The compliance department service."""
