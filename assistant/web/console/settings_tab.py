"""The console's Settings tab: what a store owner changes without the config file — the business name,
greeting, accent colour and the languages answered (`assistant.settings`: stored in the database, laid
over the config file's values, used from the next page load or message on every replica), and the help
pages the knowledge base is built from (list, upload or replace, delete; each change rebuilds the index
in the background, one job at a time, shown here).

Admins change; agents see the values and pages but every control is off for them, and each handler
checks the role on the server (`Accounts.require_admin`), so a crafted call is refused too. The help
pages go through the injected learning loop (`finetune.jobs.LearningLoop.put_help_page` /
`delete_help_page`), which checks the files (`finetune.kb_files`).

Built inside `build_console`'s tabs (`assistant/web/console/page.py`). Browser test:
`.venv/bin/pytest -q tests/test_settings_browser.py`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

import gradio as gr

from assistant.errors import InputError
from assistant.settings import KEYS, LANGUAGE_NAMES, LiveSettings

PAGE_COLUMNS = ["name", "size", "modified (UTC)", "where"]
UPLOAD_TYPES = [".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".csv"]  # `finetune.kb_files.TYPES`
LABELS = {
    "business_name": "Business name",
    "greeting": "Greeting",
    "colour": "Colour",
    "supported_languages": "Languages",
}


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def sources_text(live: LiveSettings) -> str:
    """Where each value comes from: who set it in the console and when, or the config file."""
    parts = []
    for row in live.rows():
        label = LABELS[row["key"]]
        if row["source"].startswith("settings"):
            parts.append(f"{label}: set by {html.escape(str(row['updated_by']))}, {row['updated_at']} UTC")
        else:
            reset = f" (reset by {html.escape(str(row['updated_by']))})" if row["updated_by"] else ""
            parts.append(f"{label}: the config file{reset}")
    return "<small>" + " · ".join(parts) + "</small>"


# --- the actions (the server's checks: an agent's call is refused here, whatever the page shows) ---------
def save_settings(live: LiveSettings, accounts, token, name, greeting, colour, languages) -> str:
    """Store what changed of the four settings, as the signed-in admin; the sentence saying what was saved."""
    who = accounts.require_admin(token, "change the settings")
    wanted = {"business_name": name, "greeting": greeting or "", "colour": colour, "supported_languages": languages}
    changed = live.update({k: v if v is not None else "" for k, v in wanted.items()}, who)
    if not changed:
        return "Nothing changed."
    said = ", ".join(LABELS[k].lower() for k in changed)
    return f"Saved: {said}. Customers see it from their next page load or message."


def reset_settings(live: LiveSettings, accounts, token) -> str:
    who = accounts.require_admin(token, "change the settings")
    for key in KEYS:
        live.reset(key, who)
    return "Back to the config file's values."


def _kb_admin(accounts, learning, token) -> str:
    who = accounts.require_admin(token, "change help pages")
    if learning is None:
        raise InputError("this app runs no background jobs, so it cannot rebuild the index")
    return who


def put_help_page(accounts, learning, token, path: str | None) -> str:
    """Add or replace the uploaded file (saved under its own name) and start the index build."""
    who = _kb_admin(accounts, learning, token)
    if not path:
        raise InputError("choose a file first")
    saved, replaced = learning.put_help_page(Path(path).name, path, who)
    return (
        f"{'Replaced' if replaced else 'Added'} {html.escape(saved.name)}; the index is being rebuilt, and the "
        "next question after it has finished uses it."
    )


def delete_help_page(accounts, learning, token, name: str | None) -> str:
    who = _kb_admin(accounts, learning, token)
    gone = learning.delete_help_page(name or "", who)
    return f"Deleted {html.escape(gone.name)}; the index is being rebuilt without it."


def build_settings_tab(live: LiveSettings, accounts, guarded, tok, tab, learning, job_line: Callable[[], str]) -> None:
    """Components and events of the tab. `accounts` checks roles, `guarded(n)` shows a refusal in a
    handler's first output, `tok` is the console's session-token state, `learning` the learning loop
    (None: no help pages here), `job_line()` the console's line about the current job; the tab loads
    when `tab` is opened."""
    gr.Markdown(
        "<small>Shown to customers from their next page load or message, on every server of this app; "
        "they override the config file's <code>app.business_name</code>, <code>app.greeting</code>, "
        "<code>app.colour</code> and <code>policy.supported_languages</code>. Only an admin can change them.</small>"
    )
    with gr.Row():
        name = gr.Textbox(label="Business name", max_lines=1, scale=3, elem_id="op-set-name")
        colour = gr.ColorPicker(label="Colour (buttons, title)", scale=1, elem_id="op-set-colour")
    greeting = gr.Textbox(
        label="Greeting (the chat's first message)",
        placeholder="Empty: the built-in greeting with the business name, in the customer's language",
        lines=2,
        max_lines=6,
        elem_id="op-set-greeting",
    )
    languages = gr.CheckboxGroup(
        [(f"{LANGUAGE_NAMES[c]} ({c})", c) for c in LANGUAGE_NAMES],
        label="Languages the assistant answers in (others are handed to a person)",
        elem_id="op-set-languages",
    )
    with gr.Row():
        save = gr.Button("Save settings", variant="primary", elem_id="op-set-save")
        reset = gr.Button("Use the config file's values", elem_id="op-set-reset")
    note = gr.Markdown("", elem_id="op-set-message")
    sources = gr.HTML("", elem_id="op-set-sources")

    gr.Markdown("### Help pages")
    folder = gr.Markdown("", elem_id="op-kb-folder")
    pages = gr.Dataframe(
        headers=PAGE_COLUMNS,
        interactive=False,
        wrap=True,
        elem_id="op-kb-pages",
        max_height=300,
        column_widths=["260px", "90px", "185px", "200px"],  # a phone shows the name, and scrolls for the rest
    )
    gr.Markdown(
        "<small>Add a page, or replace one by uploading a file of the same name: markdown, HTML, PDF, a CSV FAQ "
        "(question and answer columns) or text, at most 5 MB. Each change rebuilds the index in the background; "
        "a page that cannot be read fails the build, and the index in use keeps serving.</small>"
    )
    with gr.Row(equal_height=True):
        upload = gr.File(
            label="Help page file",
            file_types=UPLOAD_TYPES,
            type="filepath",
            scale=3,
            min_width=240,
            elem_id="op-kb-upload",
        )
        with gr.Column(scale=2, min_width=240):
            put = gr.Button("Save the page and rebuild the index", variant="primary", elem_id="op-kb-put")
            chosen = gr.Dropdown([], value=None, label="Page to delete", elem_id="op-kb-name")
            delete = gr.Button("Delete the page and rebuild the index", variant="stop", elem_id="op-kb-delete")
    kb_note = gr.Markdown("", elem_id="op-kb-message")
    job = gr.HTML("", elem_id="op-kb-job")
    watch = gr.Timer(3, active=False)  # on while an index build runs: its progress here, then off

    def values() -> list:
        now = live.current()
        return [now.business_name, now.greeting, now.colour, list(now.supported_languages), sources_text(live)]

    def page_view() -> list:
        """The folder line, the pages table and the delete choices."""
        if learning is None:
            return [
                "<small>This app runs no background jobs, so help pages are managed where it does.</small>",
                [],
                gr.update(choices=[], value=None),
            ]
        try:
            where, found = learning.help_pages()
        except InputError as exc:  # an index of its own and no retrieval.kb_dir: say what to set
            return [f"<small>⚠️ {html.escape(str(exc))}</small>", [], gr.update(choices=[], value=None)]
        rows = [[p["name"], _size(p["size"]), p["modified"], p["where"]] for p in found]
        mine = [p["name"] for p in found if p["where"] == "yours"]
        bundled = ", with the bundled demo pages" if any(p["where"] != "yours" for p in found) else ""
        line = f"<small>The index is built from this folder{bundled}: <code>{html.escape(str(where))}</code></small>"
        return [line, rows, gr.update(choices=mine, value=None)]

    def job_view() -> tuple[str, gr.Timer]:
        current = learning.job() if learning else None
        running = bool(current and current["state"] == "running")
        return (job_line() if current else ""), gr.Timer(active=running)

    @guarded(16)
    def do_load(t):
        operator = accounts.operator(t)
        # The role is read now (a change applies at the next opening); the handlers check it again.
        admin = accounts.store.operator_role(operator) == "admin"
        said = "" if admin else "You can see the settings and help pages; only an admin can change them."
        n, g, c, langs, where_from = values()
        fields = [gr.update(value=v, interactive=admin) for v in (n, g, c, langs)]
        line, rows, choices = page_view()
        return (
            said,
            *fields,
            where_from,
            line,
            rows,
            {**choices, "interactive": admin},
            *job_view(),
            *[gr.update(interactive=admin)] * 5,
        )

    @guarded(6)
    def do_save(t, n, g, c, langs):
        return (save_settings(live, accounts, t, n, g, c, langs), *values())

    @guarded(6)
    def do_reset(t):
        return (reset_settings(live, accounts, t), *values())

    @guarded(7)
    def do_put(t, path):
        return (put_help_page(accounts, learning, t, path), *page_view(), *job_view(), None)

    @guarded(6)
    def do_delete(t, page):
        return (delete_help_page(accounts, learning, t, page), *page_view(), *job_view())

    def do_watch(t):
        if not t:
            return gr.skip(), gr.Timer(active=False)
        return job_view()

    tab.select(
        do_load,
        [tok],
        [note, name, greeting, colour, languages, sources, folder, pages, chosen, job, watch]
        + [save, reset, put, delete, upload],
    )
    save.click(do_save, [tok, name, greeting, colour, languages], [note, name, greeting, colour, languages, sources])
    reset.click(do_reset, [tok], [note, name, greeting, colour, languages, sources])
    put.click(do_put, [tok, upload], [kb_note, folder, pages, chosen, job, watch, upload])
    delete.click(do_delete, [tok, chosen], [kb_note, folder, pages, chosen, job, watch])
    watch.tick(do_watch, [tok], [job, watch], show_progress="hidden")
