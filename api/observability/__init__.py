"""What operators see: logs, metrics, health, and the per-request context they carry."""
