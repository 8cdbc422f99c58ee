"""The `hanse` command and what operators and developers run: supervisor, broker, migrations, DLQ, demo."""
