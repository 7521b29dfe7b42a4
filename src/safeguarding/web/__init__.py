"""The web app: a JSON API and server-rendered pages over the store, behind accounts and roles.

``create_app(store)`` builds it; ``safeguarding serve`` runs it under uvicorn. Each area adds a
router in ``web/routers`` and templates in ``web/templates/<area>``; every route declares the
permission it needs with ``require(...)`` (``web/roles.py``).
"""
