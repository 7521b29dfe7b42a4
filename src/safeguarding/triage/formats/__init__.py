"""Readers of the report formats: NCMEC CyberTipline XML, the project's JSON Lines, and CSV.

Each reader turns one input file into ``Parsed`` items: a valid record or a ``Rejected`` with the
location, rule and raw input. Readers are pure: no store, no keys.
"""
