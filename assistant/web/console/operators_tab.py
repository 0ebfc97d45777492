"""The console's Operators tab: the team's accounts (name, role, status, last seen) and, for an admin,
adding an operator, changing a role, resetting a password and removing an account — what
`loopdesk operator add|role|password|remove` do from the command line.

A new or reset password is shown once, here, to the admin who made it (only its hash is stored); they pass
it on. The rules live in `assistant.store.accounts` (nobody removes their own account, the last admin
stays an admin) and every handler checks the role on the server (`Accounts.require_admin`), so an agent's
crafted call is refused too. A removed account or a reset password ends that operator's sessions at their
next action, on every replica (`Accounts.operator`).

Built inside `build_console`'s tabs (`assistant/web/console/page.py`). Browser test:
`.venv/bin/pytest -q tests/test_operators_browser.py`.
"""

from __future__ import annotations

from datetime import datetime, timezone

import gradio as gr

from assistant.errors import InputError
from assistant.store.accounts import create_operator, remove_operator, reset_password
from assistant.store.sign_in import ROLES
from assistant.turn.handoff import ONLINE_WINDOW_S
from assistant.web.plain_text import md_plain

COLUMNS = ["name", "role", "status", "last seen (UTC)"]


def _seen(at: datetime | None) -> str:
    if at is None:
        return "never"
    return at.replace(tzinfo=at.tzinfo or timezone.utc).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def presence(status: str | None, last_seen: datetime | None, now: datetime) -> str:
    """online or away as the operator set it while their console is open (seen within ONLINE_WINDOW_S), else offline."""
    if last_seen is None:
        return "offline"
    seen = last_seen.replace(tzinfo=last_seen.tzinfo or timezone.utc)
    return (status or "online") if (now - seen).total_seconds() <= ONLINE_WINDOW_S else "offline"


def team_rows(store, now: datetime | None = None) -> list[list[str]]:
    now = now or datetime.now(timezone.utc)
    return [
        [r["name"], r["role"] or "agent", presence(r["status"], r["last_seen_at"], now), _seen(r["last_seen_at"])]
        for r in store.operator_team()
    ]


def _once(name: str, password: str, what: str) -> str:
    # A backtick code span: Markdown leaves its inside alone (an HTML <code> would still turn "_a_" into
    # italics and drop the underscores); token_urlsafe passwords hold no backtick.
    return (
        f"{what} Password for **{md_plain(name)}**: `{password}` "
        "— shown this once (only its hash is stored): pass it on now."
    )


# --- the actions (each checks the admin role on the server) ---------------------------------------------
def add_operator(accounts, token, name: str, role: str) -> str:
    who = accounts.require_admin(token, "add operators")
    password = create_operator(accounts.store, name, None, role=role)
    made = name.strip().lower()
    return _once(made, password, f"{md_plain(made)} ({role}) added by {md_plain(who)}.")


def change_role(accounts, token, name: str | None, role: str) -> str:
    accounts.require_admin(token, "change roles")
    if not name:
        raise InputError("choose an operator first")
    before = accounts.store.operator_role(name)
    if before == role:
        return f"{md_plain(name)} is {role} already."
    accounts.store.set_operator_role(name, role)
    return f"{md_plain(name)} is now {role}; it applies at their next action."


def new_password(accounts, token, name: str | None) -> str:
    who = accounts.require_admin(token, "reset passwords")
    if not name:
        raise InputError("choose an operator first")
    ends = "you are signed out at your next click" if name == who else "their open consoles sign out"
    return _once(name, reset_password(accounts.store, name, who), f"Password reset; {ends}.")


def remove(accounts, token, name: str | None, recreated: str | None = None) -> str:
    who = accounts.require_admin(token, "remove operators")
    if not name:
        raise InputError("choose an operator first")
    remove_operator(accounts.store, name, who, recreated)
    return f"{md_plain(name)} removed; their past replies keep the name."


def build_operators_tab(accounts, guarded, tok, tab, recreated: str | None = None) -> None:
    """Components and events of the tab; `guarded(n)` shows a refusal in a handler's first output, `tok` is
    the console's session-token state; the tab loads when `tab` is opened; `recreated` names the account
    app.operator_token makes at every start (not removable here)."""
    gr.Markdown(
        "<small>Who can sign in to this console. An <b>admin</b> does everything; an <b>agent</b> answers "
        "customers but cannot promote or roll back adapters, change settings or manage operators.</small>"
    )
    table = gr.Dataframe(
        headers=COLUMNS,
        interactive=False,
        wrap=True,
        elem_id="op-operators",
        column_widths=["130px", "80px", "80px", "150px"],
    )
    with gr.Row(equal_height=True):
        new_name = gr.Textbox(
            label="New operator's name", max_lines=1, scale=2, min_width=200, elem_id="op-operators-new"
        )
        new_role = gr.Radio(
            list(ROLES), value="agent", label="Role", scale=1, min_width=180, elem_id="op-operators-new-role"
        )
        add = gr.Button("Add operator", variant="primary", scale=1, min_width=160, elem_id="op-operators-add")
    with gr.Row(equal_height=True):
        chosen = gr.Dropdown([], value=None, label="Operator", scale=2, min_width=200, elem_id="op-operators-name")
        role = gr.Radio(list(ROLES), value="agent", label="Role", scale=1, min_width=180, elem_id="op-operators-role")
        set_role = gr.Button("Change role", scale=1, min_width=140, elem_id="op-operators-set-role")
    with gr.Row():
        reset = gr.Button("Reset password", elem_id="op-operators-reset")
        drop = gr.Button("Remove operator", variant="stop", elem_id="op-operators-remove")
    with gr.Row(visible=False) as sure_row:
        sure = gr.Button("Yes, remove", variant="stop", elem_id="op-operators-remove-yes")
        not_sure = gr.Button("Keep the account", elem_id="op-operators-remove-no")
    note = gr.Markdown("", elem_id="op-operators-message")
    controls = [new_name, new_role, add, chosen, role, set_role, reset, drop]

    def view(keep: str | None = None) -> tuple:
        rows = team_rows(accounts.store)
        names = [r[0] for r in rows]
        return rows, gr.update(choices=names, value=keep if keep in names else None)

    @guarded(2 + len(controls))
    def do_load(t):
        operator = accounts.operator(t)
        admin = accounts.store.operator_role(operator) == "admin"  # read now: a role change applies here next time
        said = "" if admin else "You can see the team; only an admin can change it."
        rows, names = view()
        ups = [{**names, "interactive": admin} if c is chosen else gr.update(interactive=admin) for c in controls]
        return (said, rows, *ups)

    @guarded(4)
    def do_add(t, name, r):
        said = add_operator(accounts, t, name, r)
        return (said, *view(), "")

    @guarded(3)
    def do_role(t, name, r):
        return (change_role(accounts, t, name, r), *view(name))

    @guarded(3)
    def do_reset(t, name):
        return (new_password(accounts, t, name), *view(name))

    @guarded(3)
    def do_remove(t, name):
        return (remove(accounts, t, name, recreated), *view())

    def current_role(name):
        """The role radio shows the chosen operator's role, so "Change role" never demotes by default."""
        return gr.update(value=accounts.store.operator_role(name) or "agent") if name else gr.skip()

    tab.select(do_load, [tok], [note, table, *controls])
    add.click(do_add, [tok, new_name, new_role], [note, table, chosen, new_name])
    set_role.click(do_role, [tok, chosen, role], [note, table, chosen])
    reset.click(do_reset, [tok, chosen], [note, table, chosen])
    chosen.change(current_role, [chosen], [role], queue=False)

    # A removal cannot be undone (a new account gets a new password): a second button asks first.
    @guarded(2)
    def ask_remove(t, name):
        accounts.require_admin(t, "remove operators")
        if not name:
            raise InputError("choose an operator first")
        return f"Remove the account **{md_plain(name)}**? Their past replies keep the name.", gr.update(visible=True)

    @guarded(4)
    def do_remove_confirmed(t, name):
        return (*do_remove(t, name), gr.update(visible=False))

    drop.click(ask_remove, [tok, chosen], [note, sure_row])
    sure.click(do_remove_confirmed, [tok, chosen], [note, table, chosen, sure_row])
    not_sure.click(lambda: ("", gr.update(visible=False)), None, [note, sure_row])
    chosen.change(lambda: gr.update(visible=False), None, [sure_row], queue=False)  # asked about someone else
