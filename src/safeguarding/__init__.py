"""safeguarding: triage, assessment, platform risk and helpline statistics, privacy built in."""

__version__ = "0.1.0"
