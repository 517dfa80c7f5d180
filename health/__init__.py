"""Health of a running portal: the checks behind /health/ and `manage.py health`, and beat's
heartbeat task. Imports only Django and Celery (docs/architecture.md, the map at the top)."""
