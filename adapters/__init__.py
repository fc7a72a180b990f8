"""Clients of the processes around us: the Rasa engine, Redis wake-ups and limits, readiness."""
