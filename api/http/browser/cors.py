"""CORS for the endpoints the browser SDKs call (Lock, auth0-js, auth0-spa-js), as a pure ASGI
middleware: a preflight is answered before routing, and an allowed origin is echoed with
credentials (Lock's `/co/authenticate` sends its cookies)."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metaledger.api.auth.clients import ClientRegistry

# Called from an application's pages; the origin must be one an application allows.
SDK_PATHS = frozenset({"/oauth/token", "/userinfo", "/dbconnections/signup", "/co/authenticate"})
# Public documents any page may read (auth0-js fetches the keys to check an ID token).
PUBLIC_PATHS = frozenset({"/.well-known/jwks.json", "/.well-known/openid-configuration"})
ALLOWED_HEADERS = "auth0-client, content-type, authorization"
ALLOWED_METHODS = "GET, POST"
PREFLIGHT_MAX_AGE = "86400"


class CorsMiddleware:
    def __init__(self, app: ASGIApp, clients: ClientRegistry) -> None:
        self.app = app
        self.clients = clients

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or (path not in SDK_PATHS and path not in PUBLIC_PATHS):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        public = path in PUBLIC_PATHS
        allowed = public or origin in self.clients.cors_origins()
        cors = _cors_headers(origin, public) if allowed else {}
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(send, cors)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and cors:
                response_headers = MutableHeaders(scope=message)
                for name, value in cors.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, with_cors)


def _cors_headers(origin: str, public: bool) -> dict[str, str]:
    if public:
        return {"Access-Control-Allow-Origin": "*"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


async def _preflight(send: Send, cors: dict[str, str]) -> None:
    """204 with the CORS grant for an allowed origin; 403 without one, which the browser
    reports as a blocked request."""
    if cors:
        status = 204
        headers = {
            **cors,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        }
        body = b""
    else:
        status = 403
        headers = {"Content-Type": "application/json"}
        body = (
            b'{"statusCode":403,"error":"Forbidden","message":"Origin not allowed",'
            b'"errorCode":"origin_not_allowed"}'
        )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            + [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
