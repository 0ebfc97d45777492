"""loopdesk web app (Gradio on FastAPI) — also the Hugging Face Spaces entry point.

    python app.py [--port 7860] [--host 0.0.0.0]      # or: loopdesk serve

Routes: `/` the customer chat, `/operator` the operator console (named accounts), `/kb/<id>` a
cited knowledge-base section rendered as a page, `/healthz`, `/readyz` and `/metrics` (Prometheus)
for on-call. Gradio only: the pages' components live in
`assistant/ui_customer.py` and `assistant/ui_console.py`, their logic below them. On first start
without an index the bundled demo knowledge base is indexed (Spaces has no `make install`).
"""

from __future__ import annotations

import argparse
import logging
import os

import gradio as gr

from assistant.config import Config, load_config
from assistant.errors import LoopdeskError

log = logging.getLogger("loopdesk.app")


def ensure_demo_index(cfg: Config) -> None:
    """Index the bundled demo knowledge base when no index exists yet (first start, Spaces)."""
    import index
    from index.builder import build_index, current_build
    from index.embedder import SentenceEmbedder

    if current_build(cfg.index_dir) is None and not cfg.retrieval.index_dir:
        build_index([index.DEMO_KB], cfg.index_dir, SentenceEmbedder(cfg.models.embedder, cfg.home))


def ensure_bootstrap_operator(store, cfg: Config) -> None:
    """`app.operator_token` becomes the password of an `admin` account (Spaces has no shell for
    `loopdesk operator add`); an existing account is never changed."""
    from assistant.accounts import create_operator

    if cfg.app.operator_token and store.operator_account("admin") is None:
        create_operator(store, "admin", cfg.app.operator_token)
        log.info("created the console account 'admin' from app.operator_token")


def build_ui(assistant, cfg: Config, learning=None) -> gr.Blocks:
    from assistant.ui_console import build_console
    from assistant.ui_customer import build_customer_page

    with gr.Blocks(title=cfg.page_title) as demo:
        gr.Navbar(visible=False)  # customers see no link to the console
        build_customer_page(assistant, cfg)
    customer_events = len(demo.fns)
    with demo.route("Operator", "/operator"):
        build_console(assistant, cfg, learning)
    # The console's endpoints are not described in /gradio_api/info nor callable by API clients;
    # its page still calls them (and each checks the signed-in operator on the server).
    for fn in list(demo.fns.values())[customer_events:]:
        fn.api_visibility = "private"
    return demo


def build_app(assistant, cfg: Config, learning=None):
    """FastAPI app: the knowledge-base section route, with the Gradio pages mounted at /."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    from assistant.chat_view import KB_ROUTE, missing_section_html, section_html
    from assistant.ui_customer import css

    api = FastAPI(title=cfg.page_title, docs_url=None, redoc_url=None, openapi_url=None)

    @api.get(KB_ROUTE + "{passage_id:path}", response_class=HTMLResponse)
    def kb_section(passage_id: str) -> HTMLResponse:
        finder = getattr(assistant.retriever, "section", None)
        try:
            passages = finder(passage_id) if finder else []
        except LoopdeskError as exc:
            log.error("knowledge-base section %s: %s", passage_id, exc)
            passages = []
        if not passages:
            return HTMLResponse(missing_section_html(cfg.app.business_name), status_code=404)
        return HTMLResponse(section_html(passages, cfg.app.business_name))

    @api.get("/healthz")
    def healthz() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @api.get("/readyz")
    def readyz():
        """Readiness: generator loaded, index open, database writable (503 otherwise, with why)."""
        from fastapi.responses import JSONResponse

        from assistant.metrics import readiness

        state = readiness(assistant)
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    @api.get("/metrics")
    def metrics_route():
        from fastapi.responses import Response
        from prometheus_client import CONTENT_TYPE_LATEST

        from assistant.metrics import exposition

        return Response(exposition(assistant), media_type=CONTENT_TYPE_LATEST)

    demo = build_ui(assistant, cfg, learning)
    demo.queue(default_concurrency_limit=1)
    # No footer (API/settings links), no run history in the browser (it kept every input there).
    return gr.mount_gradio_app(api, demo, path="/", footer_links=[], run_history=False, show_error=False, ssr_mode=False,
                               css=css(cfg.app.colour))


def launch(cfg: Config) -> None:
    import uvicorn

    import index
    from assistant.build import build_assistant
    from assistant.logs import setup_logging
    from finetune.jobs import LearningLoop

    setup_logging(cfg.app.log_format, cfg.app.log_level)
    try:
        ensure_demo_index(cfg)
    except LoopdeskError as exc:
        log.warning("demo index not built: %s", exc)
    assistant = build_assistant(cfg, index.open_for_config)
    ensure_bootstrap_operator(assistant.store, cfg)
    app = build_app(assistant, cfg, LearningLoop(cfg))
    print(f"loopdesk: customer chat on http://{cfg.app.host}:{cfg.app.port}/ · console on /operator", flush=True)
    uvicorn.run(app, host=cfg.app.host, port=cfg.app.port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--host", default=None)
    args = parser.parse_args()
    if os.environ.get("SPACE_ID"):  # Hugging Face Spaces: listen on all interfaces
        os.environ.setdefault("LOOPDESK_APP_HOST", "0.0.0.0")
    launch(load_config(overrides={"app.port": args.port, "app.host": args.host}))


if __name__ == "__main__":
    main()
