"""Guards every response of the web app passes through (pure ASGI middleware, so they also cover the
mounted Gradio pages and run before anything reads a body).

- Body limits: a request body over its limit is refused with 413 before it is read into memory,
  whether its size is declared (Content-Length) or streamed (chunked): `/v1/` and `/integrations/`
  calls get `API_BODY_BYTES`, file uploads (help pages) `UPLOAD_BODY_BYTES`, everything else (the pages'
  Gradio calls) `app.max_request_kb`. A chat page message is at most `policy.max_message_chars`, so a
  50 MB "message" never reaches Gradio (it kept each one in the session's history: 20 x 5 MB added
  590 MB to the server).
- Security headers: a Content-Security-Policy on every page, plus nosniff and a referrer policy.
  Gradio's page needs inline scripts, styles and eval (its config is inline; without eval the chat
  stays blank), so the policy's teeth are elsewhere: nothing loads from or talks to another origin
  (no beacon from injected markup, no script from a CDN), no plugins, no `<base>` rewrite, forms
  post only here. The customer page may be framed by the shops that embed `/widget.js`
  (`app.embed_origins`, `*` by default); the console and the API docs are never framed (clickjacking).
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger("loopdesk.guards")

API_BODY_BYTES = 512 * 1024
API_PREFIXES = ("/v1/", "/integrations/")
# Help pages an admin uploads in the console's Settings tab: up to 5 MB (`finetune.kb_files.MAX_BYTES`)
# plus the multipart wrapping. Gradio's upload route takes no more than this from anyone.
UPLOAD_PATH, UPLOAD_BODY_BYTES = "/gradio_api/upload", 5 * 1024 * 1024 + 64 * 1024
CONSOLE_PREFIXES = ("/operator", "/docs", "/openapi.json")


def content_security_policy(path: str, embed_origins: list[str]) -> str:
    if path.startswith(CONSOLE_PREFIXES):
        framers: str | None = "'none'"
    elif "*" in embed_origins:  # framed anywhere, as before (CSP's * would still refuse a file:// page)
        framers = None
    else:
        framers = " ".join(embed_origins or ["'none'"])
    return "; ".join(
        [
            "default-src 'self'",
            # Gradio: an inline config, and eval (tried without it: the chat page stayed blank).
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "media-src 'self' data: blob:",
            "connect-src 'self'",  # the page's own queue and streams only: no beacon elsewhere
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
        + ([f"frame-ancestors {framers}"] if framers else [])
    )


class Guards:
    """ASGI middleware: body limits and security headers (see the module docstring)."""

    def __init__(self, app, page_body_bytes: int, embed_origins: list[str]) -> None:
        self.app, self.page_body_bytes, self.embed_origins = app, page_body_bytes, embed_origins

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        limit = API_BODY_BYTES if path.startswith(API_PREFIXES) else self.page_body_bytes
        if path.startswith(UPLOAD_PATH):
            limit = max(limit, UPLOAD_BODY_BYTES)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await self._refuse(send, limit, path)
        seen = 0
        over = False

        async def limited_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    # The app sees a disconnect: it stops reading and answers nothing; we answer 413 below.
                    return {"type": "http.disconnect"}
            return message

        started = False
        csp = content_security_policy(path, self.embed_origins).encode()

        async def guarded_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                if over:
                    return
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                headers += [
                    (b"content-security-policy", csp),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            elif over:
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send, limit, path)

    @staticmethod
    async def _refuse(send, limit: int, path: str) -> None:
        log.warning("refused a request body over %s bytes for %s", f"{limit:,}", path)
        body = json.dumps({"detail": f"request body over {limit:,} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
