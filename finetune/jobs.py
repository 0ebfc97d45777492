"""The learning loop as the console runs it: export, train and evaluate in the background,
promote and roll back — each step the CLI's own command or function, so it refuses for the
same reasons.

Training and evaluation run as `loopdesk finetune lora|eval ... --json` subprocesses in their
own session (a page reload or an app restart does not stop them). One job at a time: the job's
state lives in `<home>/jobs/current.json` (command, pid, who started it, when, progress file,
log file) and the exit code lands in `rc` when the command ends; a job whose process vanished
without an exit code is reported as lost. Who did what is appended to `<home>/jobs/actions.jsonl`.
Training and evaluation record themselves in the experiment tracker (`finetune/tracking.py`, with the
operator's name through `--by`); `runs()` lists what it holds for the console. Train refuses an export
with fewer than `MIN_TRAIN_EXAMPLES` training examples (`training_readiness` says why).

    loop = LearningLoop(cfg); loop.start_training("~/.cache/loopdesk/datasets/export-...", 40, "dana")
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from assistant.config import Config, local_path
from assistant.errors import InputError, LoopdeskError

log = logging.getLogger("loopdesk.jobs")

MIN_TRAIN_EXAMPLES = 20
"""Fewer training examples than this and Train refuses: a 135M model fitted on a handful of replies
learns them by heart (and 20 is five batches of the default 4), so an adapter trained on less is never
worth evaluating. Counted in the export's train.jsonl, as `finetune lora` reads it."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child of this process is a zombie until reaped: reap it, it is not running
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


class LearningLoop:
    def __init__(self, cfg: Config, workdir: Path | None = None) -> None:
        """`workdir` holds jobs/ and datasets/ (default: the config's home)."""
        self.cfg = cfg
        self.home = Path(workdir or cfg.home)
        self.jobs = self.home / "jobs"
        self.datasets_dir = self.home / "datasets"
        self.registry = local_path(cfg.models.adapters_dir) or self.home / "adapters"

    # --- state ---------------------------------------------------------------------------------
    def _record(self, operator: str, action: str, **detail) -> None:
        self.jobs.mkdir(parents=True, exist_ok=True)
        with (self.jobs / "actions.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"at": _now(), "operator": operator, "action": action, **detail}) + "\n")

    def job(self) -> dict | None:
        """The current (or last) job: kind, version, state (running|done|failed|lost), step, total,
        losses, started_by, started_at, result (the command's JSON) or error (the log's last lines)."""
        state = _read(self.jobs / "current.json")
        if not state:
            return None
        run = Path(state["dir"])
        progress = _read(run / "progress.json")
        rc_file = run / "rc"
        rc = int(rc_file.read_text().strip() or 1) if rc_file.exists() else None
        status = (
            "running"
            if rc is None and _alive(state["pid"])
            else "cancelled"
            if (run / "cancelled").exists()
            else "lost"
            if rc is None
            else ("done" if rc == 0 else "failed")
        )
        out = {
            **state,
            "state": status,
            "step": progress.get("step", 0),
            "total": progress.get("max_steps") or state.get("max_steps") or 0,
            "losses": progress.get("losses", []),
            "stage": progress.get("stage", ""),
            "seconds_left": _seconds_left(progress),
        }
        log = (run / "log.txt").read_text(errors="replace") if (run / "log.txt").exists() else ""
        if status == "done":
            # The command's --json output is the last block starting with a line "{" (training
            # logs before it print dicts of their own on one line).
            start = log.rfind("\n{\n") + 1 if "\n{\n" in log else (0 if log.startswith("{\n") else -1)
            try:
                out["result"] = json.loads(log[start:]) if start >= 0 else {}
            except ValueError:
                out["result"] = {}
        elif status in ("failed", "lost"):
            lines = [x for x in log.strip().splitlines() if x.strip()]
            errors = [x for x in lines if x.startswith("error:")]
            out["error"] = errors[-1] if errors else ("\n".join(lines[-5:]) or "the process ended without output")
        return out

    def _start(self, kind: str, command: list[str], operator: str, **info) -> dict:
        """Run `command` in the background as the one job (refused while another runs)."""
        current = self.job()
        if current and current["state"] == "running":
            raise InputError(
                f"a {current['kind']} job is running already (started by {current['started_by']} "
                f"at {current['started_at']}); one at a time"
            )
        run = self.jobs / f"{kind}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S-%f')}"
        run.mkdir(parents=True, exist_ok=True)
        command = [c.replace("{run}", str(run)) for c in command]
        log_file, rc_file = shlex.quote(str(run / "log.txt")), shlex.quote(str(run / "rc"))
        shell = f"{shlex.join(command)} > {log_file} 2>&1; echo $? > {rc_file}"
        proc = subprocess.Popen(
            ["/bin/sh", "-c", shell],
            cwd=os.getcwd(),  # the server's: relative paths in its config mean what they mean to it
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        state = {
            "kind": kind,
            "dir": str(run),
            "pid": proc.pid,
            "command": shlex.join(command),
            "started_by": operator,
            "started_at": _now(),
            **info,
        }
        (self.jobs / "current.json").write_text(json.dumps(state, indent=1))
        self._record(operator, f"start {kind}", **info)
        log.info("%s started %s job %s: %s", operator, kind, run.name, state["command"])
        return state

    def cancel(self, operator: str) -> None:
        current = self.job()
        if not current or current["state"] != "running":
            raise InputError("no job is running")
        try:
            os.killpg(current["pid"], signal.SIGTERM)
        except ProcessLookupError:
            raise InputError("the job has just ended; nothing to cancel") from None
        (Path(current["dir"]) / "cancelled").write_text(operator)
        self._record(operator, f"cancel {current['kind']}", version=current.get("version"))

    def _shared(self):
        from assistant.build import open_store
        from finetune.registry import SharedLive

        return SharedLive(open_store(self.cfg), self.registry)

    # --- the steps -----------------------------------------------------------------------------
    def start_export(self, operator: str) -> dict:
        """Export a dataset from the logs in the background (the NER redaction of a big store takes
        minutes); it appears among `datasets()` only once complete (see `export_dataset`)."""
        out = self.datasets_dir / f"export-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"
        return self._start(
            "export",
            loopdesk(self.cfg, "finetune", "export", "--out", str(out), "--progress", "{run}/progress.json"),
            operator,
            dataset=str(out),
        )

    def datasets(self) -> list[str]:
        """Dataset directories (with a train.jsonl), newest first."""
        if not self.datasets_dir.is_dir():
            return []
        found = [
            d for d in self.datasets_dir.iterdir() if (d / "train.jsonl").is_file() and not d.name.endswith(".partial")
        ]
        return [str(d) for d in sorted(found, key=lambda d: d.stat().st_mtime, reverse=True)]

    def training_readiness(self, dataset: str | None) -> tuple[bool, str]:
        """Whether Train may start on `dataset`, and the sentence saying why not ("" when it may)."""
        if not dataset or not (Path(dataset) / "train.jsonl").is_file():
            return False, "Train needs an exported dataset: Export builds one from the rated replies."
        try:
            lines = (Path(dataset) / "train.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            return False, f"Train cannot read the chosen export ({exc.strerror})."
        have = sum(1 for line in lines if line.strip())
        if have < MIN_TRAIN_EXAMPLES:
            return False, (
                f"Train needs at least {MIN_TRAIN_EXAMPLES} rated, corrected or imported replies in the chosen "
                f"export's training split (this one has {have}): rate or correct more replies, then export again."
            )
        return True, ""

    def start_training(self, dataset: str, max_steps: int, operator: str) -> dict:
        if not dataset or not (Path(dataset) / "train.jsonl").is_file():
            raise InputError("choose an exported dataset first (Export builds one)")
        ready, why = self.training_readiness(dataset)
        if not ready:  # the console disables its button too; this is the check that counts
            raise InputError(why)
        if not 1 <= int(max_steps) <= 100_000:
            raise InputError("steps must be between 1 and 100000")
        version = f"console-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
        return self._start(
            "train",
            loopdesk(
                self.cfg,
                "finetune",
                "lora",
                "--data",
                dataset,
                "--version",
                version,
                "--max-steps",
                str(int(max_steps)),
                "--save-steps",
                "10",
                "--progress",
                "{run}/progress.json",
                f"--by={operator}",
            ),
            operator,
            version=version,
            dataset=dataset,
            max_steps=int(max_steps),
        )

    def start_relevance_round(self, operator: str, promote: bool) -> dict:
        """Retrain the answer-relevance model from operator feedback in the background
        (`finetune relevance-round`); with `promote`, a candidate the gate finds better goes live."""
        return self._start(
            "relevance",
            loopdesk(self.cfg, "finetune", "relevance-round", f"--by={operator}", *(["--promote"] if promote else [])),
            operator,
            promote=promote,
        )

    def rollback_relevance(self, operator: str) -> dict:
        """Serve the answer-relevance model live before the current one (`finetune relevance-rollback`)."""
        from assistant.build import open_store
        from finetune.relevance_round import rollback

        record = rollback(open_store(self.cfg), operator)
        self._record(operator, "roll back relevance", version=record.get("version"))
        return record

    def start_eval(self, version: str, operator: str, max_examples: int = 40) -> dict:
        adapter = _read(self.registry / version / "adapter.json")
        if not adapter:
            raise InputError(f"no generator adapter {version!r} in {self.registry}")
        data = adapter.get("data")
        if not data or not Path(data).exists():
            raise InputError(f"the data {version} was trained on ({data}) is gone; it holds the held-out split")
        return self._start(
            "eval",
            loopdesk(
                self.cfg,
                "finetune",
                "eval",
                "--adapter",
                version,
                "--data",
                data,
                "--max-examples",
                str(max_examples),
                "--generate",
                "4",
                "--record",  # the console's evaluation is the one its Promote button checks
                "--progress",
                "{run}/progress.json",
                f"--by={operator}",
            ),
            operator,
            version=version,
        )

    def save_article(self, name: str, text: str, operator: str) -> Path:
        """Save a new help article into the knowledge-base folder and rebuild the index from it; when the
        rebuild cannot start (another job), the article is taken back out, so nothing is half done."""
        from finetune.articles import article_target, save_article

        _, folders = article_target(self.cfg)
        path = save_article(self.cfg, name, text)
        try:
            self.start_index_build([str(f) for f in folders], operator)
        except InputError:
            path.unlink(missing_ok=True)
            raise
        self._record(operator, "save article", path=str(path))
        return path

    def start_index_build(self, paths: list[str], operator: str, strict: bool = False) -> dict:
        """Rebuild the configured index from `paths` in the background (a new help article); every
        replica switches to the new build at its next question. `strict`: a file that cannot be read
        fails the build and the index in use keeps serving (help pages uploaded in the console)."""
        return self._start(
            "index",
            loopdesk(
                self.cfg,
                "index",
                "build",
                *[str(p) for p in paths],
                "--out",
                str(self.cfg.index_dir),
                "--progress",
                "{run}/progress.json",
                *(["--strict"] if strict else []),
            ),
            operator,
        )

    # --- help pages (the console's Settings tab; `finetune.kb_files` checks and writes) ---------------
    def help_pages(self) -> tuple[Path, list[dict]]:
        """(the folder help pages are saved in, its pages and any bundled ones)."""
        from finetune.kb_files import list_pages

        return list_pages(self.cfg)

    def put_help_page(self, name: str, upload: str, operator: str) -> tuple[Path, bool]:
        """Add or replace a help page and rebuild the index from the folder; when the rebuild cannot
        start (another job), the folder is put back as it was. (its path, whether it replaced one)."""
        from finetune.kb_files import folders, put_page

        self._idle()
        path, replaced, undo = put_page(self.cfg, name, upload)
        self._rebuild_or_undo(folders(self.cfg)[1], operator, undo)
        self._record(operator, "replace help page" if replaced else "add help page", path=str(path))
        return path, replaced

    def delete_help_page(self, name: str, operator: str) -> Path:
        """Delete a help page and rebuild the index without it (put back when the rebuild cannot start)."""
        from finetune.kb_files import delete_page, folders

        self._idle()
        path, undo = delete_page(self.cfg, name)
        self._rebuild_or_undo(folders(self.cfg)[1], operator, undo)
        self._record(operator, "delete help page", path=str(path))
        return path

    def _idle(self) -> None:
        """InputError while a job runs: a help page changes only when its rebuild can start."""
        current = self.job()
        if current and current["state"] == "running":
            raise InputError(
                f"a {current['kind']} job is running (started by {current['started_by']}); change help pages "
                "when it has finished: one job at a time"
            )

    def _rebuild_or_undo(self, build_from: list[Path], operator: str, undo) -> None:
        try:
            self.start_index_build([str(f) for f in build_from], operator, strict=True)
        except Exception:  # another job started in between, or no process: nothing is half done
            undo()
            raise

    def adapters(self) -> list[dict]:
        """Generator adapters with their evaluation next to the live one's (newest first)."""
        from finetune.registry import list_adapters

        rows = [r for r in list_adapters(self.registry, {}) if r["kind"] == "generator"]
        out = []

        def num(value):
            return round(value, 3) if isinstance(value, float) else value

        for r in rows:
            ev = _read(Path(r["path"]) / "eval.json")
            prov, gate, last = ev.get("compared_with") or {}, ev.get("answer_gate"), r.get("promoted") or {}
            against = (prov.get("version") or "the base model") if prov else "not evaluated"
            if gate:
                against += f": {gate['wins']} better, {gate['losses']} worse, {gate['ties']} the same"
            out.append(
                {
                    "version": r["version"],
                    "created_at": r["created"] or "",
                    # One column per measurement, each pair measured on the same set in one run.
                    "adapter": r["version"] + (" (live)" if r["live"] else ""),
                    "created": (r["created"] or "")[:10],
                    "answers right": _pair(
                        ev.get("adapter_answer_accuracy"),
                        ev.get("live_answer_accuracy", ev.get("base_answer_accuracy")),
                    ),
                    "held-out loss": _pair(ev.get("adapter_loss"), ev.get("live_loss", ev.get("base_loss"))),
                    "train loss": num(r["metrics"].get("train_loss_last")),
                    "compared with": against,
                    "last promoted": _promoted(last),
                }
            )
        return sorted(out, key=lambda r: r["created_at"], reverse=True)

    # --- experiment tracking ---------------------------------------------------------------------
    def runs(self, limit: int = 100) -> list[dict]:
        """Recorded training and evaluation runs, newest first (`finetune.tracking.list_runs`)."""
        from finetune.tracking import list_runs, location

        return list_runs(location(self.cfg), limit)

    def runs_stamp(self) -> tuple:
        """Changes when a run is recorded (cheap: the console polls it)."""
        from finetune.tracking import location, stamp

        return stamp(location(self.cfg))

    def tracker(self) -> str:
        """Which store records the runs, in one sentence."""
        from finetune.tracking import describe, location

        return describe(location(self.cfg))

    def promote(self, version: str, operator: str, override_reason: str = "") -> dict:
        """Promote when the evaluation against the live adapter says so; an admin's override needs a
        reason, kept in the adapter history with the operator's name."""
        from assistant.models import resolve
        from assistant.serving.registry import prepare_adapter
        from finetune.answer_eval import questions_hash
        from finetune.registry import promote

        if not version:
            raise InputError("choose an adapter to promote")
        q = local_path(self.cfg.evaluation.answer_questions) if self.cfg.evaluation.answer_questions != "none" else None
        shared = self._shared()
        result = promote(
            self.registry,
            version,
            resolve(self.cfg.models.generator, self.cfg.home).model_id,
            force=bool(override_reason.strip()),
            deploy=shared.compare_and_set,
            prepare=prepare_adapter(self.cfg),
            reason=override_reason,
            by=operator,
            live_now=shared.version,
            questions_hash=questions_hash(q) if q is not None and q.is_file() else None,
        )
        self._record(operator, "promote", version=version, reason=result.get("reason"))
        return result

    def rollback(self, operator: str) -> dict:
        from assistant.serving.registry import prepare_adapter
        from finetune.registry import rollback

        shared = self._shared()
        result = rollback(
            self.registry,
            deploy=shared.compare_and_set,
            prepare=prepare_adapter(self.cfg),
            live_now=shared.version,
            by=operator,
        )
        self._record(operator, "rollback", live=result["live"], previous=result["previous"])
        return result


def loopdesk(cfg: Config, *args: str) -> list[str]:
    """A `loopdesk ... --json` command line run with this interpreter (the app's environment) and the
    server's own settings: its config file and `--set` overrides (its LOOPDESK_* environment is
    inherited), so a job writes adapters and exports where the server reads them."""
    return [sys.executable, "-m", "assistant.cli.main", *cfg.command_args(), *args, "--json"]


def wait(loop: LearningLoop, timeout: float = 600) -> dict | None:
    """Block until the current job ends (for tests and scripts)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = loop.job()
        if not job or job["state"] != "running":
            return job
        time.sleep(0.5)
    raise LoopdeskError("job still running after the timeout")


def _seconds_left(progress: dict) -> float | None:
    """Time left in the current stage at its pace so far (None before two readings)."""
    step, total = progress.get("step") or 0, progress.get("max_steps") or 0
    since, at = progress.get("since"), progress.get("at")
    if not (since and at and 0 < step < total and at > since):
        return None
    return (at - since) / step * (total - step)


def _pair(this, other) -> str:
    """ "0.92 / 0.88": two figures of one measurement, rounded; "" when not measured."""

    def show(v) -> str:
        return f"{v:.2f}" if isinstance(v, (int, float)) else "—"

    return "" if this is None and other is None else f"{show(this)} / {show(other)}"


def _promoted(last: dict) -> str:
    """ "2026-12-03, override by dana: why" (an override's reason already names who), or "... by dana: why"."""
    if not last:
        return ""
    day, by, reason = (last.get("at") or "")[:10], last.get("by") or "?", last.get("reason") or ""
    return f"{day}, {reason}" if reason.startswith(f"override by {by}") else f"{day} by {by}: {reason}"
