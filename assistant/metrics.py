"""Prometheus metrics of the running app (official `prometheus-client`), served at /metrics.

    loopdesk_turns_total{action}                 turns answered, by what the policy decided
    loopdesk_turn_latency_seconds                histogram of whole-turn time
    loopdesk_first_token_seconds                 histogram of time to the first words shown
    loopdesk_escalations_total{reason}           handovers and offers of a person
    loopdesk_errors_total{kind}                  generation errors, failed turns, store errors
    loopdesk_queue_depth                         conversations waiting for a person (at scrape time)
    loopdesk_live_adapter_info{version}          the adapter serving now (at scrape time)
    loopdesk_spool_records                       turns waiting for the database (at scrape time)
    loopdesk_busy_fallbacks_total                turns the model could have written, answered from the
                                                 evidence because its first sentence would come too late
    loopdesk_model_busy_share                    that share over the latest 100 such turns
    loopdesk_database_up                         1 when the database answered the last scrape

Readiness (`readiness()`) checks what a turn needs: the generator loaded, the index open, the
database writable.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()
TURNS = Counter("loopdesk_turns", "Customer turns handled, by policy action.", ["action"], registry=REGISTRY)
LATENCY = Histogram(
    "loopdesk_turn_latency_seconds",
    "Whole-turn time.",
    registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
FIRST_TOKEN = Histogram(
    "loopdesk_first_token_seconds",
    "Time until the first words are shown.",
    registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
)
ESCALATIONS = Counter(
    "loopdesk_escalations", "Handovers and offers of a person, by reason.", ["reason"], registry=REGISTRY
)
ERRORS = Counter("loopdesk_errors", "Errors by kind.", ["kind"], registry=REGISTRY)
QUEUE = Gauge("loopdesk_queue_depth", "Conversations waiting for a person.", registry=REGISTRY)
ADAPTER = Gauge("loopdesk_live_adapter_info", "The adapter serving now (value 1).", ["version"], registry=REGISTRY)
SPOOL = Gauge("loopdesk_spool_records", "Turns waiting in the local spool for the database.", registry=REGISTRY)
BUSY_FALLBACKS = Counter(
    "loopdesk_busy_fallbacks",
    "Turns answered from the evidence because the model would be too late.",
    registry=REGISTRY,
)
BUSY_SHARE = Gauge(
    "loopdesk_model_busy_share", "Share of the latest model-eligible turns that fell back for time.", registry=REGISTRY
)
DATABASE = Gauge("loopdesk_database_up", "1 when the database answered the last scrape, else 0.", registry=REGISTRY)


def record_turn(result) -> None:
    """Count one finished turn (`TurnResult`)."""
    TURNS.labels(result.decision.action or "none").inc()
    LATENCY.observe(result.latency_ms / 1000)
    if result.first_token_ms is not None:
        FIRST_TOKEN.observe(result.first_token_ms / 1000)
    if result.decision.escalated:
        ESCALATIONS.labels(result.decision.reason).inc()


def error(kind: str) -> None:
    ERRORS.labels(kind).inc()


def exposition(assistant) -> bytes:
    """The metrics text, with the gauges read now."""
    try:
        QUEUE.set(len(assistant.store.handoff_queue(("queued",))))
        DATABASE.set(1)
    except Exception:  # /metrics answers with the database down: that is when on-call needs it
        DATABASE.set(0)
    ADAPTER.clear()
    ADAPTER.labels(assistant.generator.adapter_id or "none").set(1)
    SPOOL.set(assistant.spool.size() if assistant.spool is not None else 0)
    return generate_latest(REGISTRY)


def readiness(assistant) -> dict:
    """{"ready": bool, "checks": {name: "ok" or why not}, "engine": which generates and why,
    "load": turns running / waiting / refused, "model_time": the busy-fallback shares and, when idle
    turns fall back for time, a `problem` (the app still answers: ready stays true)}."""
    checks = {
        "generator": "ok" if assistant.generator.model_id else "not loaded",
        "index": "ok" if assistant.retriever else (assistant.retriever_problem or "not open"),
    }
    try:
        assistant.store.check_writable()
        checks["database"] = "ok"
    except Exception as exc:  # the probe reports, it does not raise
        checks["database"] = f"not writable: {exc}"
    gen = assistant.generator
    engine, reason = gen.engine_name, gen.engine_reason
    return {
        "ready": all(v == "ok" for v in checks.values()),
        "checks": checks,
        "engine": f"{engine} ({reason})" if reason else engine,
        "load": assistant.admission.load(),
        "model_time": {**assistant.busy_watch.stats(), "problem": assistant.busy_watch.problem()},
    }
