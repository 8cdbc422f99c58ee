"""The finance department service."""
