"""loopdesk web app (Gradio on FastAPI) — also the Hugging Face Spaces entry point.

    python app.py [--port 7860] [--host 0.0.0.0]      # or: loopdesk serve

Routes: `/` the customer chat, `/operator` the operator console (named accounts); the HTTP API
(`/v1/chat`, `/v1/feedback`, `/docs`), `/kb/<id>` (a cited knowledge-base section as a page),
`/healthz`, `/readyz` and `/metrics` come from `assistant.web.http_api`. Gradio only: the pages' components live in
`assistant/web/customer_page.py` and `assistant/web/console/page.py`, their logic below them. On first start
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
        build_index(
            [index.DEMO_KB],
            cfg.index_dir,
            SentenceEmbedder(cfg.models.embedder, cfg.home),
            lexical=cfg.retrieval.mode != "dense",
        )


def ensure_bootstrap_operator(store, cfg: Config) -> None:
    """`app.operator_token` becomes the password of an `admin` account (Spaces has no shell for
    `loopdesk operator add`); an existing account is never changed."""
    from assistant.store.accounts import BOOTSTRAP_OPERATOR, create_operator

    if cfg.app.operator_token and store.operator_account(BOOTSTRAP_OPERATOR) is None:
        create_operator(store, BOOTSTRAP_OPERATOR, cfg.app.operator_token)
        log.info("created the console account %r from app.operator_token", BOOTSTRAP_OPERATOR)


def build_ui(assistant, cfg: Config, learning=None) -> gr.Blocks:
    from assistant.web.console.page import build_console
    from assistant.web.customer_page import build_customer_page

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
    """The HTTP API and routes (`assistant.web.http_api`), with the Gradio pages mounted at /."""
    from assistant.web.http_api import build_api
    from assistant.web.console.layout import CSS as CONSOLE_CSS
    from assistant.web.customer_style import HEAD, css
    from finetune.kb_files import MAX_BYTES

    api = build_api(assistant, cfg)
    demo = build_ui(assistant, cfg, learning)
    # Turns of different customers run together (the engine batches their decoding); the line with
    # "you are number N" is ours (assistant.turn.admission), so Gradio's own queue must not hold them back.
    demo.queue(default_concurrency_limit=cfg.app.concurrent_turns + cfg.app.max_waiting, max_size=None)
    # No footer (API/settings links), no run history in the browser (it kept every input there).
    return gr.mount_gradio_app(
        api,
        demo,
        path="/",
        footer_links=[],
        run_history=False,
        show_error=False,
        ssr_mode=False,
        css=css(cfg.app.colour) + CONSOLE_CSS,  # one stylesheet for every route; the console's rules name #op- ids
        head=HEAD,  # picks the /widget.js frame's layout (/?embed=1) before the page renders
        max_file_size=MAX_BYTES,  # help pages (console Settings tab): a larger file is refused before it uploads
    )


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
    if assistant.redactor is not None:
        assistant.redactor("warm-up")  # loads spaCy/Presidio (~5 s) now, not during the first customer's turn
    assistant.unit_scorer(None)  # the relevance model's unit encoder too (~2 s); a failure is logged here
    app = build_app(assistant, cfg, LearningLoop(cfg))
    print(f"loopdesk: customer chat on http://{cfg.app.host}:{cfg.app.port}/ · console on /operator", flush=True)
    # proxy_headers=False: X-Forwarded-For is read by the console only from app.trusted_proxies; uvicorn
    # would otherwise take it from any local client before the app sees the request.
    uvicorn.run(app, host=cfg.app.host, port=cfg.app.port, log_level="warning", proxy_headers=False)


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
