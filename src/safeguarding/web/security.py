"""Security headers on every response: only this origin, no framing, no sniffing, no caching.

The pages load scripts, styles and images from this origin only (htmx is vendored), so the
Content-Security-Policy allows ``'self'`` and nothing else, and no inline script or style. A
response that sets its own Content-Security-Policy (a stricter one) keeps it.

The middleware is the outermost one the app adds, so answers made by the others (413 from the body
limits) carry the headers too. Only Starlette's server-error layer sits outside every middleware:
the app's handler for unexpected errors sets the headers on its 500 itself, with
``security_headers``.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def security_headers(*, hsts: bool, static: bool = False) -> dict[str, str]:
    """The headers for a response: no caching except for static files, HSTS on HTTPS."""
    headers = dict(HEADERS)
    if not static:
        headers["Cache-Control"] = "no-store"
    if hsts:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


class SecurityHeaders:
    """ASGI middleware adding the headers (and HSTS when cookies are Secure, i.e. on HTTPS)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")
        wanted = security_headers(hsts=self.hsts, static=static)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
