"""Running the hotline in production: backups, heartbeats, health and metrics."""
