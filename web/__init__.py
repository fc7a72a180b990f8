"""The web process: JSON API for organisations and staff, health check (later the
staff dashboard, organisation pages, resident web chat and Open311)."""
