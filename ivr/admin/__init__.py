"""The web UI for caseworkers, supervisors and admins."""
