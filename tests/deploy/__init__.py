"""Offline checks of the deployment files: Dockerfile, docker compose, Kubernetes."""
