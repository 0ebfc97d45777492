"""Console sign-in limits in the database and operator roles: a burst of concurrent wrong passwords
gets at most MAX_FAILURES checked; a stranger's failures from another address only slow the operator
down; X-Forwarded-For counts only from a trusted proxy; two replicas share the count; agents cannot
promote or roll back adapters from the console, admins can. Each store test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import threading
from types import SimpleNamespace

import pytest

from assistant.errors import InputError
from assistant.store import accounts
from assistant.store.store import Store

BOTH_DATABASES = True


class Sleeps(list):
    """Records the waits instead of sleeping (the delays are asserted, not waited for)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(accounts, "FAIL_DELAY_S", 0.0)


def test_concurrent_wrong_passwords_get_at_most_max_failures_checked(store, monkeypatch, fast):
    accounts.create_operator(store, "dana", "dana-password")
    checked, guard = [], threading.Lock()
    real_verify = accounts.verify_password

    def counting_verify(password, stored):
        with guard:
            checked.append(password)
        return real_verify(password, stored)

    monkeypatch.setattr(accounts, "verify_password", counting_verify)
    acc = accounts.Accounts(store, sleep=Sleeps())
    start, errors = threading.Barrier(40), []

    def guess(i):
        start.wait()
        try:
            acc.sign_in("dana", f"guess-{i}", client="203.0.113.9")
        except InputError as exc:
            with guard:
                errors.append(str(exc))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(errors) == 40
    assert 1 <= len(checked) <= accounts.MAX_FAILURES, len(checked)  # the old per-process dict checked all 40
    assert errors.count("wrong name or password") == len(checked)
    assert sum(e.startswith("too many wrong passwords") for e in errors) == 40 - len(checked)
    assert store.sign_in_failures("dana", "203.0.113.9") == len(checked)  # refused tries are not failures


def test_a_strangers_failures_slow_the_operator_down_but_never_lock_them_out(store, fast):
    accounts.create_operator(store, "dana", "dana-password")
    sleeps = Sleeps()
    acc = accounts.Accounts(store, sleep=sleeps)
    for i in range(accounts.MAX_FAILURES):
        with pytest.raises(InputError, match="wrong name or password"):
            acc.sign_in("dana", f"guess-{i}", client="198.51.100.7")
    with pytest.raises(InputError, match="too many"):
        acc.sign_in("dana", "dana-password", client="198.51.100.7")  # the stranger's own pair is refused
    # The same name from more addresses: every attempt of the name waits longer, up to the cap.
    for i, address in enumerate(["198.51.100.8", "198.51.100.9", "198.51.100.10", "198.51.100.11"]):
        with pytest.raises(InputError, match="wrong name or password"):
            acc.sign_in("dana", f"guess-{i}", client=address)
    slowed = [s for s in sleeps if s > 0]
    assert slowed == sorted(slowed) and slowed[0] == accounts.SLOW_BASE_S and len(slowed) == 4
    sleeps.clear()
    session = acc.sign_in("dana", "dana-password", client="10.0.0.7")  # the operator, from their address
    assert acc.operator(session.token) == "dana"
    assert sleeps and 0 < sleeps[0] <= accounts.SLOW_MAX_S  # slowed, not refused
    # One address guessing across names is refused, for the real account too.
    accounts.create_operator(store, "sam", "sam-password")
    for name in ("a", "b", "c", "d", "e"):
        with pytest.raises(InputError, match="wrong name or password"):
            acc.sign_in(name, "guess", client="192.0.2.50")
    with pytest.raises(InputError, match="too many"):
        acc.sign_in("sam", "sam-password", client="192.0.2.50")
    assert acc.operator(acc.sign_in("sam", "sam-password", client="192.0.2.51").token) == "sam"


def test_two_replicas_on_one_database_share_the_count(store, fast):
    accounts.create_operator(store, "dana", "dana-password")
    replica_a = accounts.Accounts(store, sleep=Sleeps())
    replica_b = accounts.Accounts(Store(store.url), sleep=Sleeps())  # its own engine, as another process has
    for i in range(accounts.MAX_FAILURES):
        with pytest.raises(InputError, match="wrong name or password"):
            (replica_a if i % 2 else replica_b).sign_in("dana", f"guess-{i}", client="203.0.113.5")
    for replica in (replica_a, replica_b):
        with pytest.raises(InputError, match="too many"):
            replica.sign_in("dana", "dana-password", client="203.0.113.5")
    # From another address the operator signs in on either replica; the refused pair stays refused.
    assert replica_b.operator(replica_b.sign_in("dana", "dana-password", client="203.0.113.6").token) == "dana"
    assert store.sign_in_failures("dana", "203.0.113.5") == accounts.MAX_FAILURES


def test_a_successful_sign_in_clears_its_failures_and_old_attempts_expire(store, monkeypatch, fast):
    accounts.create_operator(store, "dana", "dana-password")
    acc = accounts.Accounts(store, sleep=Sleeps())
    for _ in range(accounts.MAX_FAILURES - 1):
        with pytest.raises(InputError, match="wrong name or password"):
            acc.sign_in("dana", "typo", client="10.0.0.7")
    acc.sign_in("dana", "dana-password", client="10.0.0.7")
    assert store.sign_in_failures("dana", "10.0.0.7") == 0
    for _ in range(accounts.MAX_FAILURES):
        with pytest.raises(InputError, match="wrong name or password"):
            acc.sign_in("dana", "typo", client="10.0.0.7")
    monkeypatch.setattr(accounts, "LOCK_S", 0)  # the window has passed
    acc.sign_in("dana", "dana-password", client="10.0.0.7")
    assert store.sign_in_failures() == 0  # purged


def test_forwarded_for_counts_only_from_a_trusted_proxy():
    xff = "6.6.6.6, 198.51.100.23"  # the client wrote the first, nginx appended the second
    assert accounts.client_address("172.28.0.10", xff, []) == "172.28.0.10"
    assert accounts.client_address("203.0.113.1", xff, ["172.28.0.10"]) == "203.0.113.1"  # untrusted peer
    assert accounts.client_address("172.28.0.10", xff, ["172.28.0.10"]) == "198.51.100.23"
    assert accounts.client_address("10.1.2.3", "198.51.100.23, 10.9.9.9", ["10.0.0.0/8"]) == "198.51.100.23"
    assert accounts.client_address("172.28.0.10", None, ["172.28.0.10"]) == "172.28.0.10"
    assert accounts.client_address("::ffff:172.28.0.10", "198.51.100.23", ["172.28.0.10"]) == "198.51.100.23"


def test_trusted_proxies_are_validated(tmp_path):
    from assistant.config import load_config
    from assistant.errors import ConfigError

    env = {"LOOPDESK_APP_TRUSTED_PROXIES": "172.28.0.10, 10.0.0.0/8"}
    assert load_config(path=None, env=env).app.trusted_proxies == ["172.28.0.10", "10.0.0.0/8"]
    with pytest.raises(ConfigError, match="trusted_proxies: 'nginx'"):
        load_config(path=None, env={"LOOPDESK_APP_TRUSTED_PROXIES": "nginx"})


# --- roles ------------------------------------------------------------------------------------------
class FakeLearning:
    def __init__(self):
        self.live, self.calls = "v1", []

    def datasets(self):
        return []

    def adapters(self):
        return []

    def job(self):
        return None

    def promote(self, version, operator, override_reason=""):
        self.calls.append(("promote", version, operator))
        self.live = version
        return {"live": version, "reason": "better"}

    def rollback(self, operator):
        self.calls.append(("rollback", operator))
        self.live = "v1"
        return {"live": "v1"}


def console_handlers(cfg, store, learning):
    import gradio as gr

    from assistant.turn.pipeline import Assistant
    from assistant.web.console.page import build_console
    from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

    assistant = Assistant(cfg, FakeGenerator(["ok"]), store, FakeRetriever(), FakeSentiment())
    with gr.Blocks() as demo:
        build_console(assistant, cfg, learning)
    return {f.fn.__name__: f.fn for f in demo.fns.values() if f.fn is not None}


def request(peer, forwarded=None):
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return SimpleNamespace(client=SimpleNamespace(host=peer), headers=headers)


def test_only_an_admin_promotes_or_rolls_back_from_the_console(cfg, store, fast, caplog):
    accounts.create_operator(store, "boss", "boss-password")
    accounts.create_operator(store, "ann", "ann-password", role="agent")
    assert store.operator_role("boss") == "admin" and store.operator_role("ann") == "agent"
    learning = FakeLearning()
    fns = console_handlers(cfg, store, learning)
    agent = fns["do_signin"]("ann", "ann-password", request("10.0.0.7"))
    assert agent[1] and "(agent)" in agent[4]
    with caplog.at_level("WARNING", logger="loopdesk.accounts"):
        msg = fns["do_promote"](agent[1], "v2")[0]
        assert "only an admin can promote adapters" in msg
        assert "only an admin can promote adapters" in fns["do_promote_anyway"](agent[1], "v2", "urgent")[0]
        assert "only an admin can roll back adapters" in fns["do_rollback"](agent[1])[0]
    assert learning.calls == [] and learning.live == "v1"
    assert "operator ann (agent) tried to promote adapters" in caplog.text
    admin = fns["do_signin"]("boss", "boss-password", request("10.0.0.8"))
    assert "Live adapter: `v2`" in fns["do_promote"](admin[1], "v2")[0]
    assert "Live adapter: `v1`" in fns["do_rollback"](admin[1])[0]
    assert learning.calls == [("promote", "v2", "boss"), ("rollback", "boss")]
    store.set_operator_role("ann", "admin")  # a role change applies at the next action, no new sign-in
    assert "Live adapter: `v3`" in fns["do_promote"](agent[1], "v3")[0]
    with pytest.raises(InputError, match="role must be"):
        accounts.create_operator(store, "zed", "zed-password", role="owner")


def test_the_console_counts_the_forwarded_client_only_behind_a_trusted_proxy(cfg, store, fast):
    import dataclasses

    accounts.create_operator(store, "dana", "dana-password")
    cfg.app = dataclasses.replace(cfg.app, trusted_proxies=["172.28.0.10"])
    fns = console_handlers(cfg, store, FakeLearning())
    for i in range(accounts.MAX_FAILURES):  # a stranger behind nginx
        assert "wrong name" in fns["do_signin"]("dana", "guess", request("172.28.0.10", f"6.6.6.{i}, 198.51.100.23"))[0]
    assert store.sign_in_failures("dana", "198.51.100.23") == accounts.MAX_FAILURES
    assert "too many" in fns["do_signin"]("dana", "dana-password", request("172.28.0.10", "198.51.100.23"))[0]
    assert fns["do_signin"]("dana", "dana-password", request("172.28.0.10", "10.0.0.7"))[1]  # dana, behind nginx
    # From a peer that is not a trusted proxy the header is the client's own words: ignored.
    fns["do_signin"]("dana", "guess", request("203.0.113.4", "10.0.0.7"))
    assert store.sign_in_failures(address="203.0.113.4") == 1 and store.sign_in_failures(address="10.0.0.7") == 0


def test_the_cli_adds_agents_and_changes_roles(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from assistant.cli.main import app

    for k in [k for k in __import__("os").environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = functools.partial(CliRunner().invoke, app)
    out = run(["--set", f"store.url={url}", "operator", "add", "ann", "--role", "agent", "--json"])
    assert out.exit_code == 0, out.output
    made = json.loads(out.output)
    assert made["name"] == "ann" and made["role"] == "agent" and len(made["password"]) >= 8
    bad = run(["--set", f"store.url={url}", "operator", "add", "bob", "--role", "owner", "--json"])
    assert bad.exit_code == 2 and "role must be admin or agent" in bad.output
    assert run(["--set", f"store.url={url}", "operator", "role", "ann", "admin", "--json"]).exit_code == 0
    assert Store(url).operator_role("ann") == "admin" and Store(url).operator_role("bob") is None
    assert run(["--set", f"store.url={url}", "operator", "role", "nobody", "agent"]).exit_code == 2


def test_removing_an_operator_or_resetting_a_password_ends_their_sessions_on_every_replica(store, fast):
    """An admin removes an account or resets a password: that operator's open sessions stop at their next
    action, on this replica and another; nobody removes themselves, the last admin cannot be removed or made
    an agent; the new password works and the old one does not."""
    accounts.create_operator(store, "dana", "dana-password")
    accounts.create_operator(store, "ann", "ann-password", role="agent")
    accounts.create_operator(store, "bob", "bob-password", role="agent")
    here, there = accounts.Accounts(store, sleep=Sleeps()), accounts.Accounts(Store(store.url), sleep=Sleeps())
    ann = there.sign_in("ann", "ann-password").token
    bob = there.sign_in("bob", "bob-password").token
    assert there.operator(ann) == "ann"

    fresh = accounts.reset_password(store, "ann", by="dana")
    for _ in range(2):  # said again at the next click, after a background refresh noticed first
        with pytest.raises(InputError, match="your password was reset"):
            there.operator(ann)
    with pytest.raises(InputError, match="wrong name or password"):
        here.sign_in("ann", "ann-password")
    assert here.operator(here.sign_in("ann", fresh).token) == "ann"

    accounts.remove_operator(store, "bob", by="dana")
    with pytest.raises(InputError, match="your account was removed"):
        there.operator(bob)
    assert store.operator_account("bob") is None

    with pytest.raises(InputError, match="your own account"):
        accounts.remove_operator(store, "dana", by="dana")
    with pytest.raises(InputError, match="last admin"):
        accounts.remove_operator(store, "dana", by="ann")
    with pytest.raises(InputError, match="last admin"):
        store.set_operator_role("dana", "agent")
    store.set_operator_role("ann", "admin")
    store.set_operator_role("dana", "agent")  # two admins: one may step down
    assert store.operator_role("dana") == "agent"
    with pytest.raises(InputError, match="no operator"):
        accounts.remove_operator(store, "nobody", by="ann")
    with pytest.raises(InputError, match="app.operator_token"):
        accounts.remove_operator(store, "admin", by="ann", recreated="admin")


def test_an_operator_holding_conversations_is_not_removed(cfg, store):
    """Their customers would read "<name> is answering" with nobody behind it: transfer or close first."""
    from assistant.turn.handoff import Handoff

    accounts.create_operator(store, "dana", "dana-password")
    accounts.create_operator(store, "sam", "sam-password", role="agent")
    h = Handoff(store)
    held, assigned = store.new_conversation("chat"), store.new_conversation("chat")
    h.request(held, "human_requested")
    h.take(held, "sam")
    h.request(assigned, "human_requested")
    assert store.assign_handoff(assigned, "sam", "dana", None)
    with pytest.raises(InputError, match="sam holds 2 open conversation"):
        accounts.remove_operator(store, "sam", by="dana")
    h.close(held, "sam")
    assert store.assign_handoff(assigned, "dana", "dana", "sam")
    accounts.remove_operator(store, "sam", by="dana")
    assert store.operator_account("sam") is None


def test_the_cli_removes_operators_and_resets_passwords(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from assistant.cli.main import app

    for k in [k for k in __import__("os").environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = functools.partial(CliRunner().invoke, app)
    assert run(["--set", f"store.url={url}", "operator", "add", "dana"]).exit_code == 0
    assert run(["--set", f"store.url={url}", "operator", "add", "ann", "--role", "agent"]).exit_code == 0
    out = run(["--set", f"store.url={url}", "operator", "password", "ann", "--json"])
    assert out.exit_code == 0, out.output
    new = json.loads(out.output)["password"]
    assert accounts.verify_password(new, Store(url).operator_account("ann")["password_hash"])
    last = run(["--set", f"store.url={url}", "operator", "remove", "dana", "--json"])
    assert last.exit_code == 2 and "last admin" in last.output
    assert run(["--set", f"store.url={url}", "operator", "remove", "ann", "--json"]).exit_code == 0
    assert Store(url).operator_account("ann") is None


def test_two_admins_demoting_each_other_at_once_leave_one_admin(store):
    """Each removes or demotes the other in the same instant, many times over: never no admin left."""
    for round_ in range(5):
        a, b = f"ada{round_}", f"bea{round_}"
        accounts.create_operator(store, a, "a-password")
        accounts.create_operator(store, b, "b-password")
        for name in [n for n in store.operator_names() if n not in (a, b)]:
            store.set_operator_role(name, "agent") if store.operator_role(name) == "admin" else None
        start, refused = threading.Barrier(2), []

        def act(fn):
            start.wait()
            try:
                fn()
            except InputError:
                refused.append(fn)

        threads = [
            threading.Thread(target=act, args=(lambda: store.set_operator_role(a, "agent"),)),
            threading.Thread(target=act, args=(lambda: accounts.remove_operator(store, b, by=a),)),
        ]
        [t.start() for t in threads]
        [t.join() for t in threads]
        admins = [n for n in store.operator_names() if store.operator_role(n) == "admin"]
        assert len(admins) == 1 and len(refused) == 1, (admins, refused)
