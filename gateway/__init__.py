"""The gateway: one API for frontends and partners in front of the department services."""
