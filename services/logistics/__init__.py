"""The logistics department service."""
