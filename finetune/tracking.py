"""Experiment tracking: every training and evaluation run of the generator, recorded in MLflow.

    from finetune.tracking import list_runs, location
    for run in list_runs(location(cfg)):
        print(run["started_at"], run["kind"], run["adapter"], run["metrics"])

`finetune/lora.py::train_lora` records a training run (parameters, the loss curve step by step,
minutes, PEFT method, the data hash of the export and the adapter version it made, with the adapter's
manifest, loss plot and model card as artifacts); `loopdesk finetune eval` records an evaluation
(held-out loss, answer accuracy of the candidate and of the live adapter, better/worse/same counts,
the question-set hash, which adapter). Both happen inside those commands, so a run typed on the
command line is tracked just like the console's background jobs. The console's Learning tab lists
the runs (`list_runs`, newest first).

Where: `paths.runs` (default `<home>/runs`): an MLflow SQLite store `mlflow.db` with artifacts under
`artifacts/`, experiment `loopdesk`. Look at it with the MLflow UI (full `mlflow` package):

    mlflow ui --backend-store-uri sqlite:///$HOME/.cache/loopdesk/runs/mlflow.db

Why MLflow (mlflow-skinny + alembic for its SQLite store) and not the others:
- its data model is exactly what a run needs: params, metrics with a step history (the loss curve),
  tags, artifacts; `MlflowClient(tracking_uri).search_runs` reads it back with no global state, so the
  console, the CLI and tests with their own homes each address their own store;
- a local SQLite file works offline with nothing to run, and the same code talks to a team's MLflow
  server later; `mlflow ui` is what ML engineers already open;
- TensorBoard keeps scalars well, but parameters, data hash and adapter only as HParams protobufs that
  are awkward to read back; trackio reads its directory from the environment once at import (one
  store per process) and its API still changes from release to release;
- the file store (`file:./mlruns`) is in maintenance mode in MLflow 3 (refused unless
  MLFLOW_ALLOW_FILE_STORE is set), hence SQLite.
mlflow-skinny (not the full `mlflow`, whose server pulls Flask, pyarrow, docker, ...) installs under
constraints.txt without moving a pin. It is imported only here, inside functions: `import assistant`
and the CLI's `--help` stay fast. Telemetry is switched off (a self-hosted product does not phone home).

Without MLflow (a Hugging Face Space's requirements.txt leaves it out) or when its store fails, a run
is appended to `<runs>/runs.jsonl` instead: same fields, same `list_runs`, and `describe` says which
store is in use. Recording never fails a training or an evaluation: the adapter matters more.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger("loopdesk.tracking")

EXPERIMENT = "loopdesk"
JSONL = "runs.jsonl"
DB = "mlflow.db"
TAG = "loopdesk."  # our tags: loopdesk.kind, loopdesk.adapter, loopdesk.by, loopdesk.what


def location(cfg) -> Path:
    """The tracking directory of a config: `paths.runs`, else `<home>/runs` (never the checkout)."""
    runs = getattr(cfg.paths, "runs", "")
    return Path(os.path.expanduser(runs)) if runs else cfg.home / "runs"


def _client(where: Path):
    """An MlflowClient on `<where>/mlflow.db`, or None when MLflow (or alembic, its SQLite store's
    migrations) is not installed."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        import alembic  # noqa: F401  (the SQLite store's schema migrations)
        import mlflow  # noqa: F401
        from mlflow.tracking import MlflowClient
    except ImportError:
        return None
    for name in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..." is noise in a job log
        logging.getLogger(name).setLevel(logging.WARNING)
    where.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # MLflow's mappers use an SQLAlchemy 2.1 deprecation: not ours to fix
        warnings.filterwarnings("ignore", message=".*noload.*")
        return MlflowClient(tracking_uri=f"sqlite:///{(where / DB).resolve()}")


def _experiment(client, where: Path, create: bool) -> str | None:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    if not create:
        return None
    return client.create_experiment(EXPERIMENT, artifact_location=(where / "artifacts").resolve().as_uri())


def backend() -> str:
    """ "mlflow" when MLflow (and alembic) are installed, so runs go to its store; else "jsonl"."""
    from importlib.util import find_spec

    return "mlflow" if find_spec("mlflow") is not None and find_spec("alembic") is not None else "jsonl"


def describe(where: Path) -> str:
    """One sentence for the console: which store records the runs, and how to open it."""
    if backend() == "mlflow":
        return (
            f"Runs are recorded in MLflow ({where / DB}); an ML engineer opens them with "
            f"`mlflow ui --backend-store-uri sqlite:///{where / DB}`."
        )
    return (
        f"MLflow is not installed here, so runs are recorded in the plain file {where / JSONL} "
        "(install mlflow-skinny and alembic to track them in MLflow)."
    )


def _clean(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None and v != ""}


def record_run(
    where: Path,
    kind: str,
    *,
    name: str,
    what: str,
    params: dict[str, Any],
    metrics: dict[str, float | int | None],
    adapter: str | None = None,
    data_hash: str | None = None,
    by: str = "",
    started: float | None = None,
    seconds: float | None = None,
    curve: Iterable[tuple[int, float]] = (),
    curve_key: str = "train_loss",
    artifacts: Iterable[Path] = (),
) -> dict:
    """Record one finished run and return it as `list_runs` will (`backend` says where it went).

    `kind`: "train" or "eval"; `what`: the run in a team lead's words; `params`: settings and inputs
    (strings in the store); `metrics`: numbers (None skipped); `curve`: (step, value) of `curve_key`
    (the loss curve); `artifacts`: small files beside the adapter (manifest, loss plot, model card)."""
    started = started if started is not None else time.time() - (seconds or 0)
    params = _clean({**params, "data_hash": data_hash, "adapter": adapter})
    metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if seconds is not None:
        metrics["minutes"] = round(seconds / 60, 2)
    tags = _clean({"kind": kind, "adapter": adapter, "by": by, "what": what})
    run = {
        "kind": kind,
        "name": name,
        "what": what,
        "by": by,
        "adapter": adapter or "",
        "data_hash": data_hash or "",
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "params": {k: ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for k, v in params.items()},
        "metrics": metrics,
    }
    curve = [(int(s), float(v)) for s, v in curve]
    try:
        client = _client(where)
        if client is not None:
            run_id = _record_mlflow(client, where, run, tags, started, seconds, curve, curve_key, artifacts)
            return {**run, "id": run_id, "backend": "mlflow"}
    except Exception as exc:  # a broken store must not lose the run: it goes to the plain file
        log.warning("MLflow could not record the %s run %s (%s); writing it to %s", kind, name, exc, where / JSONL)
    where.mkdir(parents=True, exist_ok=True)
    run_id = f"{kind}-{datetime.fromtimestamp(started, timezone.utc).strftime('%Y%m%dT%H%M%S')}-{name}"
    line = {**run, "id": run_id, "curve": {curve_key: curve} if curve else {}}
    with (where / JSONL).open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return {**run, "id": run_id, "backend": "jsonl"}


def _record_mlflow(client, where, run, tags, started, seconds, curve, curve_key, artifacts) -> str:
    experiment = _experiment(client, where, create=True)
    start_ms = int(started * 1000)
    created = client.create_run(
        experiment, start_time=start_ms, run_name=run["name"], tags={TAG + k: v for k, v in tags.items()}
    )
    run_id = created.info.run_id
    try:
        _log_to(client, run_id, run, start_ms, seconds, curve, curve_key, artifacts)
    except Exception:
        try:  # half a run would be listed beside the plain file's copy: hide it (deleted runs are not listed)
            client.delete_run(run_id)
        except Exception:
            pass
        raise
    return run_id


def _log_to(client, run_id, run, start_ms, seconds, curve, curve_key, artifacts) -> None:
    from mlflow.entities import Metric, Param

    now_ms = int(time.time() * 1000)
    metrics = [Metric(k, v, now_ms, 0) for k, v in run["metrics"].items()]
    # The loss curve as a step history: MLflow's charts draw it, `get_metric_history` reads it.
    metrics += [Metric(curve_key, v, start_ms + s, s) for s, v in curve]
    params = [Param(k, v[:6000]) for k, v in run["params"].items()]
    # log_batch takes at most 1,000 entities (100 of them params) a call.
    client.log_batch(run_id, metrics=metrics[:900], params=params[:100])
    for i in range(900, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[i : i + 900])
    if len(params) > 100:
        client.log_batch(run_id, params=params[100:])
    for path in artifacts:
        if Path(path).is_file():
            client.log_artifact(run_id, str(path))
    end = start_ms + int(seconds * 1000) if seconds is not None else now_ms
    client.set_terminated(run_id, "FINISHED", end_time=end)


def list_runs(where: Path, limit: int = 200) -> list[dict]:
    """Recorded runs, newest first: MLflow's and the plain file's together (a run recorded while MLflow
    was missing stays listed after it is installed). Each: id, backend, kind, name, what, by, adapter,
    data_hash, started_at (ISO, UTC), params (strings), metrics (numbers)."""
    runs = _jsonl_runs(where) + _mlflow_runs(where, limit)
    runs.sort(key=lambda r: r["started_at"], reverse=True)
    return runs[:limit]


def metric_history(where: Path, run: dict, key: str = "train_loss") -> list[tuple[int, float]]:
    """(step, value) of one metric of a listed run (the loss curve of a training run)."""
    if run.get("backend") == "jsonl":
        return [(int(s), float(v)) for s, v in (run.get("curve") or {}).get(key, [])]
    client = _client(where)
    if client is None:
        return []
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run["id"], key), key=lambda m: m.step)]


def _jsonl_runs(where: Path) -> list[dict]:
    file = where / JSONL
    if not file.is_file():
        return []
    out = []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash: the others still count
        if isinstance(row, dict) and row.get("started_at"):
            out.append({**row, "backend": "jsonl"})
    return out


def _mlflow_runs(where: Path, limit: int) -> list[dict]:
    if not (where / DB).is_file():
        return []  # never create a store just to read it
    try:
        client = _client(where)
        if client is None:
            return []
        experiment = _experiment(client, where, create=False)
        if experiment is None:
            return []
        found = client.search_runs([experiment], order_by=["attributes.start_time DESC"], max_results=limit)
    except Exception as exc:
        log.warning("the MLflow store at %s cannot be read: %s", where, exc)
        return []
    out = []
    for r in found:
        tags = {k[len(TAG) :]: v for k, v in r.data.tags.items() if k.startswith(TAG)}
        params = dict(r.data.params)
        out.append(
            {
                "id": r.info.run_id,
                "backend": "mlflow",
                "kind": tags.get("kind", ""),
                "name": r.info.run_name or "",
                "what": tags.get("what", ""),
                "by": tags.get("by", ""),
                "adapter": tags.get("adapter", params.get("adapter", "")),
                "data_hash": params.get("data_hash", ""),
                "started_at": datetime.fromtimestamp(r.info.start_time / 1000, timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "params": params,
                "metrics": dict(r.data.metrics),
            }
        )
    return out


def stamp(where: Path) -> tuple:
    """Changes whenever a run is recorded (the console re-reads the runs only then)."""
    out: list[tuple[int, int] | None] = []
    for name in (DB, JSONL):
        try:
            st = (where / name).stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)
