"""Triage of provider reports: content and subject clusters, priority, the queue and outcomes."""
