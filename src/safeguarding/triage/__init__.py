"""Triage of provider reports: ingest (formats, quarantine), hash lists, matching."""
