"""Load benchmark: N simulated customers at once against a real server, through the HTTP API.

    .venv/bin/python benchmarks/load.py [--customers 1,10,25,50] [--turns 2] [--seconds 120]
                                        [--setups batched,single] [--max-new-tokens 64]
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:7860 --key KEY   # a server already running

Each setup starts `loopdesk serve` on 127.0.0.1 (a free port, a throw-away SQLite store, the demo
index) with its settings, makes an API key, and runs every customer count in turn. A customer is a
thread with its own conversation: it sends `--turns` questions (real support questions, streamed
with server-sent events), pausing `--think` seconds between them (0.5-1.5: a stress test, every
customer right back; 10,30: people reading the reply and typing), and starts no new turn after `--seconds`.
Questions are drawn from `--questions`: `faq` (18 frequent ones, so many repeat and their prompts'
caches are reused) or `varied` (77, other wordings and questions the knowledge base does not answer).

Setups (`--setups`):
- `batched`: the default product — llama.cpp, replies decoded together, turns side by side;
- `single`: the old single-slot queue — one turn at a time (`app.concurrent_turns=1`, an unbounded
  line, every turn waits for the model), same engine: what batching and concurrency buy;
- `old`: the old single-slot queue on the old default engine (transformers fp32);
- `server`: the app with `models.generator` = a llama.cpp OpenAI-compatible server this script
  starts (issue 14's remote backend under load).

Reports per setup and customer count: turns/min, p50/p95 time to first token (first streamed
text: the first checked sentences, or the evidence) and turn latency, who wrote the replies (the
model, or the evidence when the model would have been late or its reply failed the check), errors
(HTTP errors, busy refusals, error events), lost and duplicated rows (every answered turn must have
exactly one user and one assistant row in the store), and the
server's peak RSS. Prints a table; writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUESTIONS = [
    "How do I return a shirt that does not fit?", "When will I get my refund?", "How long does express shipping take?",
    "I forgot my password, what do I do?", "Which payment methods do you accept?", "Is my blender under warranty?",
    "Can I cancel my order?", "Do you ship to Canada?", "My parcel says delivered but it is not here.",
    "How do I change my shipping address?", "Can I use two promo codes?", "How do I delete my account?",
    "Can I return an online order in a store?", "How do I find my size?", "Do gift cards expire?",
    "How do I get an invoice?", "Can I exchange shoes for a bigger size?", "How much is shipping to Germany?",
]


def question_set(name: str) -> list[str]:
    """`faq`: the 18 questions above, drawn at random, so many repeat (a shop's frequent questions);
    `varied`: those and the 59 of the Northwind answer set (other wordings, questions the knowledge
    base does not answer) — fewer repeats, so fewer prompts start like one already read."""
    if name == "faq":
        return QUESTIONS
    extra = ROOT / "benchmarks" / "answer_sets" / "northwind_questions.jsonl"
    return QUESTIONS + [json.loads(line)["question"] for line in extra.read_text().splitlines() if line.strip()]


# The baselines are the old queue as it was: every turn waits for the model (no first-text deadline,
# which in one slot would answer nearly every turn from the evidence and measure nothing of the engine).
SETUPS = {
    "batched": {},
    "single": {"app.concurrent_turns": "1", "app.max_waiting": "100000", "app.turn_seconds": "3600",
               "generation.batch_slots": "1", "generation.first_text_seconds": "0"},
    "old": {"app.concurrent_turns": "1", "app.max_waiting": "100000", "app.turn_seconds": "3600",
            "generation.engine": "transformers", "generation.first_text_seconds": "0"},
    # llama-cpp-python's server answers one request at a time: admitting more turns than it serves
    # would only make them wait inside it (past the client's read timeout) instead of in our line.
    "server": {"app.concurrent_turns": "4", "app.max_waiting": "200", "app.turn_seconds": "600"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 3)


def settings_args(settings: dict) -> list[str]:
    return [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]


class Server:
    """`loopdesk serve` in a subprocess with these settings; peak RSS from /proc."""

    def __init__(self, settings: dict, db: Path, log: Path, env_extra: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = settings_args({**settings, "store.url": f"sqlite:///{db}"})
        env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
        self.proc = subprocess.Popen(
            [str(BIN / "loopdesk"), *self.args, "serve", "--port", str(self.port), "--host", "127.0.0.1"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited ({self.proc.returncode}); see {log}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise SystemExit(f"server not ready in 300 s; see {log}")
        out = subprocess.run([str(BIN / "loopdesk"), *self.args, "api-key", "create", "load-bench", "--json"],
                             capture_output=True, text=True, env=env, check=True)
        self.key = json.loads(out.stdout)["key"]

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def one_turn(http: httpx.Client, url: str, key: str, message: str, cid: str | None) -> dict:
    """One streamed turn; times to the first text and to `done`, and what came back."""
    t0 = time.perf_counter()
    first, done, event, error = None, None, None, None
    body = {"message": message, "conversation_id": cid, "stream": True}
    with http.stream("POST", url + "/v1/chat", json=body, headers={"Authorization": f"Bearer {key}"}) as r:
        if r.status_code != 200:
            return {"error": f"HTTP {r.status_code}", "latency": time.perf_counter() - t0}
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event in ("token", "replace") and first is None:
                    first = time.perf_counter() - t0
                elif event == "done":
                    done = json.loads(line[6:])
                elif event in ("error", "busy"):
                    error = event
    latency = time.perf_counter() - t0
    if done is None:
        return {"error": error or "no done event", "latency": latency}
    return {"ttft": first, "latency": latency, "cid": done["conversation_id"], "turn": done["turn_id"],
            "action": done["action"]}


def run_load(url: str, key: str, customers: int, turns: int, seconds: float, seed: int,
             think: tuple[float, float] = (0.5, 1.5), questions: list[str] = QUESTIONS) -> dict:
    results: list[dict] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def customer(i: int) -> None:
        rnd = random.Random(seed * 1000 + i)
        cid = None
        with httpx.Client(timeout=httpx.Timeout(900, connect=10)) as http:
            for t in range(turns):
                if time.perf_counter() > stop_at:
                    break
                try:
                    r = one_turn(http, url, key, rnd.choice(questions), cid)
                except httpx.HTTPError as exc:
                    r = {"error": type(exc).__name__, "latency": 0.0}
                r["customer"], r["sent_cid"] = i, cid
                cid = r.get("cid", cid)
                with lock:
                    results.append(r)
                time.sleep(rnd.uniform(*think))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=customer, args=(i,)) for i in range(customers)]
    for i, th in enumerate(threads):
        th.start()
        time.sleep(max(0.05, think[0] / customers))  # arrivals spread out, not one instant
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    ok = [r for r in results if "error" not in r]
    return {
        "customers": customers,
        "turns_sent": len(results),
        "turns_ok": len(ok),
        "errors": len(results) - len(ok),
        "error_kinds": sorted({r["error"] for r in results if "error" in r}),
        "wall_s": round(wall, 1),
        "turns_per_min": round(len(ok) / wall * 60, 1),
        "ttft_p50_s": pct([r["ttft"] for r in ok if r["ttft"] is not None], 0.5),
        "ttft_p95_s": pct([r["ttft"] for r in ok if r["ttft"] is not None], 0.95),
        "latency_p50_s": pct([r["latency"] for r in ok], 0.5),
        "latency_p95_s": pct([r["latency"] for r in ok], 0.95),
        "_ok": ok,
    }


def check_rows(db: Path, ok: list[dict]) -> tuple[int, int]:
    """(lost, duplicated) rows: each answered turn owes one user and one assistant row."""
    import sqlite3

    expected: dict[str, int] = {}
    for r in ok:
        expected[r["cid"]] = expected.get(r["cid"], 0) + 1
    con = sqlite3.connect(db)
    lost = dup = 0
    for cid, n in expected.items():
        for role in ("user", "assistant"):
            (found,) = con.execute("SELECT COUNT(*) FROM turns WHERE conversation_id=? AND role=?", (cid, role)).fetchone()
            lost += max(0, n - found)
            dup += max(0, found - n)
    con.close()
    return lost, dup


def answer_sources(db: Path, ok: list[dict]) -> dict:
    """Who wrote the answered turns' replies (the store's grounding note): the model (`generated`),
    the evidence because the model would have been late (`fallback: busy`, see
    generation.first_text_seconds), the evidence because the model's reply failed the check, or
    something else (declines, hand-offs, nothing to check against)."""
    import sqlite3

    con = sqlite3.connect(db)
    kinds = {"model": 0, "evidence_busy": 0, "evidence_checked": 0, "other": 0}
    for r in ok:
        row = con.execute("SELECT notes FROM turns WHERE id=?", (r["turn"],)).fetchone()
        grounding = (json.loads(row[0] or "{}").get("grounding") or "") if row else ""
        kind = ("model" if grounding == "generated" else "evidence_busy" if grounding.startswith("fallback: busy")
                else "evidence_checked" if grounding.startswith("fallback") else "other")
        kinds[kind] += 1
    con.close()
    return kinds


def model_server(slots: int) -> tuple[subprocess.Popen, str]:
    """llama.cpp's OpenAI-compatible server on the bundled GGUF (llama-cpp-python[server])."""
    from assistant.config import load_config
    from assistant.serving.llama.weights import base_gguf_path

    cfg = load_config()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(base_gguf_path(cfg.models.generator, cfg.home)),
         "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
         "--n_threads", str(os.cpu_count() or 2)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return proc, f"openai:http://127.0.0.1:{port}/v1#smollm2"
        except httpx.HTTPError:
            time.sleep(1)
    proc.kill()
    raise SystemExit("llama.cpp server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", default="1,10,25,50")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=120.0, help="no new turns after this long")
    ap.add_argument("--setups", default="batched,single")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--think", default="0.5,1.5",
                    help="seconds a customer waits before the next message, min,max (10,30: reading and typing)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for every server started (repeatable), e.g. generation.threads=1")
    ap.add_argument("--env", dest="envs", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for every server started, e.g. OMP_NUM_THREADS=1")
    ap.add_argument("--url", help="measure a server already running (no row check, no RSS)")
    ap.add_argument("--key", help="API key for --url")
    ap.add_argument("--questions", default="faq", choices=["faq", "varied"],
                    help="faq: 18 frequent questions (many repeat); varied: 77 (see question_set)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load.json"))
    args = ap.parse_args()
    questions = question_set(args.questions)
    counts = [int(c) for c in args.customers.split(",")]
    lo, hi = (float(x) for x in args.think.split(","))
    rows = []
    if args.url:
        for n in counts:
            r = run_load(args.url, args.key, n, args.turns, args.seconds, seed=n, think=(lo, hi), questions=questions)
            r.pop("_ok")
            rows.append({"setup": "external", **r})
    for setup in ([] if args.url else args.setups.split(",")):
        # One API key stands for every simulated customer: its per-key rate limit (60 a minute) would
        # refuse the customers, not the server's line.
        settings = {**SETUPS[setup], "generation.max_new_tokens": str(args.max_new_tokens),
                    "api.requests_per_minute": "1000000", **dict(kv.split("=", 1) for kv in args.sets)}
        helper = None
        if setup == "server":
            helper, ref = model_server(8)
            settings["models.generator"] = ref
        tmp = Path(tempfile.mkdtemp(prefix=f"load-{setup}-"))
        server = Server(settings, tmp / "load.db", tmp / "server.log", dict(kv.split("=", 1) for kv in args.envs))
        try:
            run_load(server.url, server.key, 1, 1, 60, seed=0)  # warm-up: first-turn loading off the clock
            for n in counts:
                r = run_load(server.url, server.key, n, args.turns, args.seconds, seed=n, think=(lo, hi),
                             questions=questions)
                ok = r.pop("_ok")
                lost, dup = check_rows(tmp / "load.db", ok)
                rows.append({"setup": setup, **r, "lost_rows": lost, "duplicated_rows": dup,
                             "server_peak_rss_mb": server.peak_rss_mb(),
                             "replies_by": answer_sources(tmp / "load.db", ok)})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            server.stop()
            if helper is not None:
                os.killpg(helper.pid, signal.SIGTERM)
    head = ["setup", "customers", "turns_ok", "errors", "turns_per_min", "ttft_p50_s", "ttft_p95_s",
            "latency_p50_s", "latency_p95_s", "lost_rows", "duplicated_rows", "server_peak_rss_mb"]
    # replies by: the model / the evidence, model too late / the evidence, model's reply failed the check / other
    print("| " + " | ".join(head) + " | replies by model / evidence (busy) / evidence (check) / other |\n|"
          + "---|" * (len(head) + 1))
    for r in rows:
        by = r.get("replies_by") or {}
        by_text = " / ".join(str(by.get(k, "")) for k in ("model", "evidence_busy", "evidence_checked", "other"))
        print("| " + " | ".join(str(r.get(h, "")) for h in head) + f" | {by_text} |")
    ratios = {}
    for n in counts:
        base = next((r for r in rows if r["setup"] == "single" and r["customers"] == n), None)
        new = next((r for r in rows if r["setup"] == "batched" and r["customers"] == n), None)
        if base and new and base["turns_per_min"]:
            ratios[n] = round(new["turns_per_min"] / base["turns_per_min"], 2)
    if ratios:
        print("throughput batched / single-slot:", ratios)
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "settings": args.sets,
           "env": args.envs,
           "turns_per_customer": args.turns, "seconds": args.seconds, "think_s": [lo, hi],
           "max_new_tokens": args.max_new_tokens, "questions": args.questions,
           "rows": rows, "throughput_ratio_batched_vs_single": ratios}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
