"""Who may do what: roles and permissions, accounts and API tokens, and the chained audit log.

Used by the web app and by the CLI alike; it knows nothing of HTTP.
"""
