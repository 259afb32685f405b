"""The price feed and portfolio tracking: Celery tasks and the plain functions they run."""
