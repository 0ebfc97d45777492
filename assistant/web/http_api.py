"""The HTTP side of the web app (FastAPI; `app.py` mounts the Gradio pages on it).

    POST /v1/chat        {"message": "...", "conversation_id": null, "stream": false}
                         -> what `loopdesk chat --json` prints; with "stream": true, server-sent events
                            `queued` ({"position"}) while in line, `token` / `replace` ({"text"}), then
                            `done` (the JSON); 429 + Retry-After when the line is full
    POST /v1/feedback    {"turn_id": 12, "rating": 1 | -1, "comment": "..."} -> {"feedback_id"}
    GET  /v1/conversations/<id>/messages?after=<turn_id>   new turns (a person's replies: role "agent")
    POST /v1/conversations/<id>/email    {"email": "..."}  a person's replies also by e-mail (SMTP set up)
    POST /integrations/chatwoot/<secret>   Chatwoot agent-bot webhook (`assistant.web.integrations`, one module each)
    GET  /widget.js      a chat button for a shop's pages, opening this app's chat in a frame
    GET  /kb/<id>?lang=fr   a cited knowledge-base section as a page (its title, "Back to the chat")
    GET  /healthz /readyz /metrics
    GET  /docs           OpenAPI docs of /v1

/v1 needs a key (`loopdesk api-key create NAME --json`; only its SHA-256 is stored), sent as
`Authorization: Bearer KEY` or `X-API-Key: KEY`: none or a wrong one -> 401. Each key may make
`api.requests_per_minute` calls (`api.key_limits` per key; a token bucket per key, per process) -> 429
with Retry-After; a chat naming its `end_user` also counts against that user's own bucket
(`api.end_user_requests_per_minute`), so one customer of a shared key cannot use up the others' calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from contextlib import asynccontextmanager
from typing import Iterator, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request  # at module level: FastAPI resolves route annotations here

from assistant.turn.admission import Busy
from assistant.turn.customer_info import customer_meta
from assistant.web.guards import Guards
from assistant.memory.match import MemoryHit
from assistant.store.memory import MEMORY_ID
from assistant.errors import InputError, LoopdeskError

log = logging.getLogger("loopdesk.api")


DOCS_ASSETS = "/docs-assets"


def mount_docs(api) -> None:
    """`/docs`: Swagger UI from the `swagger-ui-bundle` package's files, so it works offline (FastAPI's
    default page loads them from a CDN). Without the package, `/docs` says so and links the schema."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("swagger-ui-bundle is not installed: /docs links the OpenAPI schema only")

        @api.get("/docs", include_in_schema=False)
        def docs_without_assets() -> HTMLResponse:
            return HTMLResponse(
                "<p>The interactive API page needs the <code>swagger-ui-bundle</code> package. "
                f"The API description: <a href='{api.openapi_url}'>{api.openapi_url}</a>.</p>"
            )

        return
    api.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(api.openapi_url),
            title=f"{api.title} · docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(store, name: str) -> str:
    """A new random key for a client; returns it (shown once)."""
    import re

    name = (name or "").strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name):
        raise InputError("API key names are lowercase letters, digits, '.', '_' or '-'")
    key = "ld_" + secrets.token_urlsafe(32)
    store.add_api_key(name, hash_key(key))
    return key


class RateLimiter:
    """Token bucket per client: `per_minute` calls (per client when given), refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, per_minute: int | None = None) -> float:
        """0 when the call may go ahead, else the seconds to wait."""
        capacity = float(per_minute or self.per_minute)
        rate = capacity / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / rate


class Remembered:
    """What the database said lately, for when it cannot be asked: keys verified (hash -> name) and
    conversations' owners (id -> key name), at most `size` each, for `seconds`. Used only when the
    database fails, so a revoked key stops at once while it is up (and within `seconds` while down)."""

    def __init__(self, seconds: float = 300.0, size: int = 10_000) -> None:
        self.seconds, self.size = seconds, size
        self._items: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: str | None) -> None:
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (value, time.monotonic())
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))

    def get(self, key: str) -> tuple[bool, str | None]:
        """(known, value): known only when seen within `seconds`."""
        with self._lock:
            value, at = self._items.get(key, (None, 0.0))
        return (at > 0 and time.monotonic() - at < self.seconds), value


# Conversation ids are UUIDs (ours): anything else is refused before it reaches the database (a lone
# surrogate or a NUL there raised inside the lookup).
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MAX_ROW_ID = 2**63 - 1


class Customer(BaseModel):
    # Generous limits: a name is cut to 80 characters and an address that is not one is dropped, rather than
    # refusing the customer's message over how the client described them.
    name: str | None = Field(None, max_length=1000, description="Shown to operators (cleaned, cut to 80 characters).")
    email: str | None = Field(
        None, max_length=1000, description="Shown to operators when it is an address; replies are not sent here."
    )


class ChatRequest(BaseModel):
    message: str = Field(..., max_length=100_000, description="The customer's message.")
    conversation_id: str | None = Field(
        None, pattern=UUID_PATTERN, description="Continue this conversation (from an earlier reply of this key)."
    )
    stream: bool = Field(False, description="Server-sent events: token/replace pieces, then done.")
    end_user: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Your id for the customer (a site with many customers behind one key): each gets "
        "`api.end_user_requests_per_minute`.",
    )
    customer: Customer | None = Field(
        None,
        description="Who the customer is, kept with a new conversation so operators tell customers apart "
        "(ignored when continuing one). Not verified; to have a person's replies e-mailed, use /email.",
    )


class EmailRequest(BaseModel):
    email: str = Field(..., min_length=3, max_length=254, description="Where a person's replies are e-mailed.")


class FeedbackRequest(BaseModel):
    turn_id: int = Field(..., ge=1, le=MAX_ROW_ID, description="An assistant reply's turn_id (of this key).")
    rating: Literal[1, -1]
    comment: str | None = Field(None, max_length=2000)


def build_api(assistant, cfg, integration_clients: dict | None = None):
    """`integration_clients`: {integration name: the HTTP client it answers its help desk with}
    (tests pass recorders; by default each integration makes its own)."""
    from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query
    from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.background import BackgroundTask

    from assistant import metrics
    from assistant.web.chat_view import KB_ROUTE, missing_section_html, section_html

    @asynccontextmanager
    async def lifespan(app):
        import anyio.to_thread

        # Blocking handlers (the chat page's and the API's turns) run on anyio's thread pool, 40 threads
        # by default: a turn waiting for a thread would wait without a word, outside our line.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, 2 * (cfg.app.concurrent_turns + cfg.app.max_waiting) + 16)
        yield

    api = FastAPI(
        lifespan=lifespan,
        title=f"{cfg.app.business_name} assistant API",
        version="1",
        docs_url=None,  # served below from local assets: the CDN page is blank offline
        redoc_url=None,
        description="Chat with the assistant and rate its replies. Keys: `loopdesk api-key create NAME`.",
    )
    limiter = RateLimiter(cfg.api.requests_per_minute)
    key_limits = {k: int(n) for k, _, n in (item.partition("=") for item in cfg.api.key_limits)}
    store = assistant.store
    mount_docs(api)

    # Body limits and security headers on every route, the Gradio pages included (assistant/web/guards.py).
    api.add_middleware(Guards, page_body_bytes=cfg.app.max_request_kb * 1024, embed_origins=cfg.app.embed_origins)

    from fastapi.exceptions import RequestValidationError

    @api.exception_handler(RequestValidationError)
    async def refused(request, exc: RequestValidationError) -> JSONResponse:
        # Where and why only: FastAPI's default echoes the input back (a NUL, a card number, 100 kB).
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "why": e.get("msg", "")} for e in exc.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    keys, owners = Remembered(), Remembered()

    def key_name(key: str) -> str | None:
        digest = hash_key(key)
        try:
            name = store.api_key_name(digest)
        except LoopdeskError as exc:  # the database is down: keys verified lately still work
            known, name = keys.get(digest)
            if not known:
                log.error("api key not checked, the database is unavailable: %s", exc)
                raise HTTPException(
                    503, "the service cannot check keys right now; please retry", headers={"Retry-After": "30"}
                ) from exc
            return name
        keys.put(digest, name)
        return name

    def owner(cid: str) -> str | None:
        try:
            who = store.conversation_owner(cid)
        except LoopdeskError:  # the database is down: conversations seen lately can go on
            known, who = owners.get(cid)
            if not known:
                raise
            return who
        owners.put(cid, who)
        return who

    def client(authorization: str | None = Header(None), x_api_key: str | None = Header(None)) -> str:
        key = x_api_key or (
            authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else None
        )
        name = key_name(key) if key else None
        if name is None:
            raise HTTPException(401, "missing or unknown API key", headers={"WWW-Authenticate": "Bearer"})
        per_minute = key_limits.get(name, cfg.api.requests_per_minute)
        wait = limiter.take(name, per_minute)
        if wait:
            raise HTTPException(
                429, f"rate limit: {per_minute} requests per minute", headers={"Retry-After": str(int(wait) + 1)}
            )
        return name

    @api.post("/v1/chat", tags=["chat"])
    def chat(body: ChatRequest, name: str = Depends(client)):
        """One customer turn: the reply with language, sentiment, entities, sources, action, latency."""
        per_user = cfg.api.end_user_requests_per_minute
        wait = limiter.take(f"{name}/{body.end_user}", per_user) if body.end_user and per_user else 0.0
        if wait:
            raise HTTPException(
                429,
                f"rate limit: {per_user} requests per minute for each end user",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        line = assistant.admission
        try:  # a place in line first: a refused turn leaves nothing behind, not even a conversation
            ticket = line.enter()
        except Busy as exc:
            log.warning("api chat for %s refused: %s", name, exc)
            raise HTTPException(429, "the assistant is busy; retry shortly", headers={"Retry-After": "10"}) from exc
        cid = body.conversation_id
        try:
            if cid is None:  # spooled when the database is down (the turn is answered all the same)
                c, keep = body.customer, not cfg.store.redact_contact
                who = customer_meta(c.name, c.email, keep_email=keep) if c else {}
                cid = assistant.start_conversation(source=f"api:{name}"[:32], meta={**who, "api_key": name})
                owners.put(cid, name)
            elif owner(cid) != name:
                # Unknown, or another key's (or another channel's): the same answer, so ids cannot be probed.
                raise HTTPException(404, f"no conversation {cid} for this key")
        except LoopdeskError as exc:
            line.leave(ticket)
            log.error("api chat for %s failed: %s", name, exc)
            raise HTTPException(503, "the assistant is unavailable right now; please retry") from exc
        except BaseException:
            line.leave(ticket)  # whatever went wrong, the place in line is given back
            raise
        if not body.stream:
            try:
                while not ticket.wait(0.5):
                    if line.overdue(ticket):
                        raise HTTPException(429, "the assistant is busy; retry shortly", headers={"Retry-After": "10"})
                return assistant.respond(cid, body.message, ticket.waited()).to_json()
            except LoopdeskError as exc:
                log.error("api chat for %s failed: %s", name, exc)
                raise HTTPException(503, "the assistant could not answer right now; please retry") from exc
            finally:
                line.leave(ticket)

        def events() -> Iterator[str]:
            try:
                while not ticket.wait(1.0):  # in line: say where, so a client can show it
                    if line.overdue(ticket):
                        raise Busy("waited too long in line")
                    yield f"event: queued\ndata: {json.dumps({'position': ticket.position()})}\n\n"
                for kind, value in assistant.respond_stream(cid, body.message, ticket.waited()):
                    data = value.to_json() if kind == "done" else {"text": value}
                    yield f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
            except Busy:
                yield f"event: busy\ndata: {json.dumps({'error': 'the assistant is busy; retry shortly'})}\n\n"
            except LoopdeskError as exc:
                log.error("api chat stream for %s failed: %s", name, exc)
                yield f"event: error\ndata: {json.dumps({'error': 'the assistant could not answer right now'})}\n\n"
            finally:
                line.leave(ticket)

        # The background task gives the place back also when the client left before the stream began.
        return StreamingResponse(
            events(), media_type="text/event-stream", background=BackgroundTask(line.leave, ticket)
        )

    @api.post("/v1/feedback", tags=["chat"])
    def feedback(body: FeedbackRequest, name: str = Depends(client)):
        """Thumbs up (1) or down (-1) on an assistant reply."""
        try:
            turn = store.turn(body.turn_id)
            if turn is None or turn["role"] != "assistant" or owner(turn["conversation_id"]) != name:
                raise HTTPException(404, f"turn {body.turn_id} is not an assistant reply of this key")
            # One rating per turn and key: rating again replaces it.
            return {"feedback_id": store.rate(body.turn_id, body.rating, f"api:{name}"[:64], body.comment)}
        except LoopdeskError as exc:  # a rating is not worth a spool: the client retries it
            log.error("api feedback for %s not stored: %s", name, exc)
            raise HTTPException(
                503, "ratings cannot be stored right now; please retry", headers={"Retry-After": "30"}
            ) from exc

    def own_conversation(cid: str, name: str) -> None:
        try:
            if owner(cid) != name:
                raise HTTPException(404, f"no conversation {cid} for this key")
        except LoopdeskError as exc:
            raise HTTPException(503, "the service cannot read conversations right now; please retry") from exc

    @api.get("/v1/conversations/{conversation_id}/messages", tags=["chat"])
    def messages_after(
        conversation_id: str = Path(..., pattern=UUID_PATTERN),
        after: int = Query(0, ge=0, le=MAX_ROW_ID, description="The last turn_id the client has seen."),
        name: str = Depends(client),
    ):
        """What was said in a conversation of this key after turn `after` (poll it while a person has
        the conversation: their replies come as role `agent`), and who answers it now."""
        own_conversation(conversation_id, name)
        try:
            turns = store.turns_after(conversation_id, after)
            status = assistant.handoff.status(conversation_id)
        except LoopdeskError as exc:
            raise HTTPException(503, "the service cannot read conversations right now; please retry") from exc
        return {
            "conversation_id": conversation_id,
            "answered_by": status.state if status.state != "human" else f"person:{status.operator}",
            "messages": [
                {
                    "turn_id": t["id"],
                    "role": t["role"],
                    "text": t["text"],
                    "at": t["created_at"].isoformat() if t["created_at"] else None,
                    **({"operator": (t["notes"] or {}).get("operator")} if t["role"] == "agent" else {}),
                }
                for t in turns
                if t["role"] in ("user", "assistant", "agent")
            ],
        }

    @api.post("/v1/conversations/{conversation_id}/email", tags=["chat"])
    def leave_email(
        body: EmailRequest, conversation_id: str = Path(..., pattern=UUID_PATTERN), name: str = Depends(client)
    ):
        """The customer's e-mail address, while the conversation waits for a person and the shop sends
        e-mail (`email.smtp_host`): a person's replies are then e-mailed too."""
        own_conversation(conversation_id, name)
        if not cfg.email.smtp_host:
            raise HTTPException(409, "this service sends no e-mail; poll the conversation's messages instead")
        try:
            saved = assistant.handoff.leave_email(conversation_id, body.email)
        except InputError as exc:
            raise HTTPException(422, str(exc)) from exc
        except LoopdeskError as exc:
            raise HTTPException(503, "the address could not be stored right now; please retry") from exc
        return {"email": saved}

    from assistant.web.integrations.registry import integrations

    for name, integration in integrations().items():
        integration.mount(api, assistant, cfg, (integration_clients or {}).get(name))

    @api.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        from assistant.web.widget import widget_js

        now = assistant.settings.current()  # the owner's name and colour (console), over the config's
        return Response(
            widget_js(now.business_name, now.colour),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300"},
        )

    from assistant.turn.messages import LANGUAGES
    from assistant.web.page_strings import language_from_header

    @api.get(KB_ROUTE + "{passage_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def kb_section(
        passage_id: str,
        request: Request,
        lang: str | None = Query(None, max_length=16, description="The conversation's language (labels)."),
        accept_language: str | None = Header(None),
    ) -> HTMLResponse:
        # Labels in the conversation's language (the chat's links carry it), else the browser's.
        language = lang if lang in LANGUAGES else language_from_header(accept_language)
        chat_url = request.scope.get("root_path", "") + "/"
        try:
            if MEMORY_ID.match(passage_id):  # an approved answer from the team, while it is served
                entry = assistant.store.memory_entry(int(passage_id.split(":", 1)[1]))
                passages = [MemoryHit(entry, 1.0).passage()] if entry["status"] == "approved" else []
            else:
                passages = assistant.retriever.section(passage_id) if assistant.retriever else []
        except LoopdeskError as exc:
            log.error("knowledge-base section %s: %s", passage_id, exc)
            passages = []
        business = assistant.settings.current().business_name
        if not passages:
            return HTMLResponse(missing_section_html(business, language, chat_url), status_code=404)
        return HTMLResponse(section_html(passages, business, language, chat_url))

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @api.get("/readyz", include_in_schema=False)
    def readyz():
        """Readiness: generator loaded, index open, database writable (503 otherwise, with why)."""
        state = metrics.readiness(assistant)
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    @api.get("/metrics", include_in_schema=False)
    def metrics_route():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.exposition(assistant), media_type=CONTENT_TYPE_LATEST)

    return api
