"""Department services; each owns its database and publishes the events in its contract.py."""
