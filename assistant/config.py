"""Typed configuration: defaults < `loopdesk.toml` < `LOOPDESK_*` environment < CLI flags.

Each section is a dataclass; each field carries its own doc in `metadata["doc"]`.
`load_config()` builds the effective config, remembers where every value came from and
validates everything in one place (`validate`), reporting all problems at once.
Show it with `loopdesk config show`.

Environment names are `LOOPDESK_<SECTION>_<FIELD>` (for example
`LOOPDESK_GENERATION_MAX_NEW_TOKENS=64`); `LOOPDESK_HOME` is a short alias for `LOOPDESK_PATHS_HOME`
and `LOOPDESK_CONFIG` points at another config file.
"""

from __future__ import annotations

import dataclasses
import logging
import ipaddress
import os
import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError

log = logging.getLogger("loopdesk.config")


def _f(default: Any, doc: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass
class PathsConfig:
    home: str = _f(
        "~/.cache/loopdesk", "Root for caches (converted models), the default index and the default database."
    )
    runs: str = _f(
        "",
        "Experiment tracking of every training and evaluation run (an MLflow SQLite store, or runs.jsonl "
        "where MLflow is not installed); empty means `<home>/runs`.",
    )


@dataclass
class ModelsConfig:
    generator: str = _f(
        "bundled:smollm2-135m-instruct",
        "Generator: `bundled:NAME`, a local directory, a Hugging Face id, or a model server speaking OpenAI's "
        "chat API: `openai:http://host:8000/v1#model-name` (vLLM, TGI, llama.cpp server, Ollama).",
    )
    embedder: str = _f("bundled:all-minilm-l6-v2", "Sentence-transformers model for retrieval and the tagger backbone.")
    sentiment: str = _f(
        "models/taggers/sentiment", "Directory of the sentiment tagger (adapter + head); empty disables it."
    )
    ner: str = _f("models/taggers/ner", "Directory of the NER tagger (adapter + head); empty disables it.")
    adapters_dir: str = _f(
        "models/adapters", "Registry of generator adapters; the live one is recorded in its `live.json`."
    )


@dataclass
class GenerationConfig:
    max_new_tokens: int = _f(160, "Upper bound on generated tokens per reply.")
    temperature: float = _f(
        0.0, "Sampling temperature; 0 means greedy decoding (best for copying facts from passages)."
    )
    top_p: float = _f(0.9, "Nucleus sampling mass.")
    repetition_penalty: float = _f(
        1.0,
        "Penalty > 1 discourages repeating tokens, but transformers also penalises every "
        "token of the prompt, so a fact in a passage gets harder to copy; loops are "
        "stopped by the pipeline instead (a repeated sentence ends the reply).",
    )
    reader: str = _f(
        "checked",
        "`checked`: generate, then check the reply against the passages and fall back to the "
        "best-matching passage sentences (cited) when it states an unsupported number or misses "
        "the evidence; `extractive`: only those sentences, no model call; `model`: the raw "
        "model reply, unchecked (for comparison).",
    )
    prompt_evidence: str = _f(
        "key",
        "`checked` reader: what the model is shown. `key`: only the key evidence units (what its reply must "
        "carry; the 135M model copied the first unit shown, often not the key one: 28-30 of 74-84 replies "
        "on unseen KBs were refused as strays); `evidence`: every picked unit, in page order.",
    )
    first_text_seconds: float = _f(
        4.0,
        "`checked` reader: when the model's reply has not carried the evidence this many seconds after the "
        "customer's message arrived (a busy server), answer with the evidence and stop the model; 0 waits "
        "for the model however long it takes (`loopdesk eval answers` does, so an eval measures the model).",
    )
    device: str = _f("auto", "`auto` (CUDA bf16 if present, else CPU fp32), `cpu` or `cuda`.")
    engine: str = _f(
        "auto",
        "`auto`: transformers on a GPU, else llama.cpp when llama-cpp-python is installed and the model is a "
        "GGUF (the bundled one is), else transformers (saying why); `llama.cpp` or `transformers` to force one.",
    )
    weights: str = _f(
        "auto",
        "llama.cpp: the weight type served (the bundled Q4_1 converted once): `auto` (bf16 on CPUs with "
        "AVX512-BF16 or AMX, else f16), `bf16`, `f16`, `q8_0`, or `as-is` (the GGUF as shipped).",
    )
    batch_slots: int = _f(
        32,
        "llama.cpp: replies decoded together in one batch, each with a KV cache of context_tokens "
        "(the bundled model: 23.6 MB per 1,024 tokens, allocated at start; a finished reply's cache is "
        "kept for a later prompt with the same start).",
    )
    threads: int = _f(0, "llama.cpp: CPU threads; 0 means every core this process may use.")
    merge_adapter: bool = _f(
        True,
        "llama.cpp: fold the live adapter into the served weights (bf16/f16: prompts read 35% faster, "
        "decoding 20%; a new adapter waits for the replies in flight, then swaps the model); false, or "
        "quantised weights: apply it at run time.",
    )
    draft_tokens: int = _f(
        8,
        "llama.cpp, greedy decoding: tokens guessed ahead from the prompt (what followed the reply's last "
        "words there) and checked by the model in the same step, while at most 2 replies decode; 0 turns it off.",
    )
    quantize: str = _f("none", "`none` or `int8` (dynamic int8 quantization of Linear layers, CPU only).")
    context_tokens: int = _f(
        768,
        "Token budget of the prompt plus the reply; older history is dropped to fit (a turn's prompt "
        "with its passages is 240-430 tokens).",
    )
    seed: int = _f(0, "Seed for sampling, so a run can be repeated.")


@dataclass
class RetrievalConfig:
    index_dir: str = _f("", "FAISS index directory; empty means `<home>/index`.")
    kb_dir: str = _f(
        "",
        "Folder of help pages the index is built from: the console saves new articles (knowledge-gap drafts) "
        "here and rebuilds the index from it. Empty with the demo index: the bundled pages plus `<home>/kb`.",
    )
    k: int = _f(3, "Passages retrieved per turn.")
    min_score: float = _f(0.25, "Passages scoring below this cosine similarity are not shown to the model.")
    mode: str = _f("dense", "`dense` (FAISS), `bm25` (lexical) or `hybrid` (reciprocal rank fusion of both).")
    ann_above: int = _f(50_000, "Index builds with more chunks than this use approximate search instead of exact.")
    ann: str = _f("ivf", "Approximate index above `ann_above`: `ivf` (IVF-Flat, fastest to build) or `hnsw`.")
    nprobe: int = _f(32, "IVF lists searched per query (recall vs speed; 32 of ~4000 lists at 1M chunks).")
    fusion_k: int = _f(60, "The k of reciprocal rank fusion (higher flattens the rank weights).")
    title_weight: float = _f(
        0.5, "Dense ranking adds this times the query's cosine with the document title; 0 disables."
    )
    evidence_units: int = _f(
        4,
        "Sentences, list items or table rows of the passages picked as evidence (closest to the question); the "
        "model is shown them all with generation.prompt_evidence=evidence, the key ones among them with key.",
    )
    fallback_units: int = _f(
        2, "Passage sentences quoted (and cited) when a generated reply fails the grounding check."
    )
    table_lookup: bool = _f(
        True,
        'In a table whose rows are ranges ("Over 2kg up to 5kg", "500–1,999"), rank first the row that holds '
        "the quantity in the customer's message (assistant/grounding/table_ranges.py); off: the cosine alone ranks.",
    )
    relevance_model: str = _f(
        "models/relevance/relevance.json",
        "Learned relevance (answerability + which units answer), trained by `loopdesk finetune relevance`; "
        "relative paths are read from the project root. Missing: answers whenever a passage clears min_score.",
    )
    # 1 (every informative quoted unit): chosen on the Northwind and ABCD dev sets with the grounded-v3
    # reader, shown only the key evidence (accuracy 0.66 -> 0.71 and 0.41 -> 0.44 against 0.05, the model
    # writing 0.97 -> 0.87 and 0.71 -> 0.53 of answered replies): the second unit is often the one that
    # answers, and a reply carrying only the first lost it. Reported on Parcelwise and the Debian
    # Reference, which played no part (README, "The reader retrained").
    key_margin: float = _f(
        1.0,
        "A generated reply must carry each quoted sentence whose cosine with the question is within this "
        "of the best one's (1 = all of them, 0 = the best only).",
    )


@dataclass
class MemoryConfig:
    enabled: bool = _f(True, "Answer questions that match an approved answer-memory entry with that answer.")
    min_similarity: float = _f(
        0.70,
        "Cosine (retrieval embedder) a question needs to an entry's question to get its answer; chosen "
        "leave-one-KB-out by benchmarks/memory_match.py (0.86 of paraphrases matched, 0.02 of other questions).",
    )
    check_seconds: float = _f(2.0, "How often a replica looks for entries added or changed elsewhere.")


@dataclass
class EvaluationConfig:
    answer_questions: str = _f(
        "benchmarks/answer_sets/promotion_questions.jsonl",
        "Question set (JSONL) on which `finetune eval` measures answer accuracy and `finetune promote` "
        "compares a candidate with the live adapter; kept apart from the dev sets that are reported.",
    )
    answer_index: str = _f("", "Index the answer questions are about; empty means `retrieval.index_dir`.")


@dataclass
class StoreConfig:
    url: str = _f(
        "", "SQLAlchemy URL; empty means SQLite at `<home>/loopdesk.db`. Postgres: `postgresql+psycopg://...`."
    )
    retries: int = _f(8, "Attempts for a write that hits a locked database before giving up loudly.")
    redact_contact: bool = _f(
        False,
        "Also replace e-mail addresses and phone numbers in stored turns (card numbers, "
        "security codes, expiry dates, IBANs and national ids are always replaced; "
        "`finetune export` always replaces contact data too).",
    )


@dataclass
class PolicyConfig:
    negative_turns: int = _f(2, "Offer a person after this many consecutive upset customer turns.")
    negative_score: float = _f(
        0.82,
        "A customer turn counts toward `negative_turns` when the sentiment tagger's negative probability is "
        "at least this: the lowest threshold keeping calm conversations under 3% on half of the airline "
        "tweets (see benchmarks/escalation_rate.py; reported on the other half).",
    )
    upset_score: float = _f(
        0.5,
        "A customer turn counts as upset (the reply apologises, the prompt asks for empathy) when "
        "the upset model's probability is at least this: the threshold `loopdesk finetune upset` chose "
        "(0.5023: apologising to at most 2% of the calm messages of the labelled sets). Without an upset model the "
        "sentiment tagger's negative probability is compared instead (0.82 was chosen for that on the airline tweets).",
    )
    upset_model: str = _f(
        "models/upset/upset.json",
        "The upset model (`loopdesk finetune upset`) over the sentiment tagger's scores and the message's form; "
        "empty reads upset from the negative probability alone.",
    )
    ner_languages: list = _f(
        ["en"], "Languages the NER tagger was trained on; other messages are not tagged (said in the insights)."
    )
    sentiment_prior: bool = _f(
        True,
        "Apply the sentiment tagger's customer-traffic prior (fitted with its calibration: "
        "support traffic has more complaints than praise); false tags the text alone.",
    )
    supported_languages: list = _f(["en"], "Languages the generator answers in; others are escalated.")
    max_message_chars: int = _f(4000, "Longer messages are truncated with a visible note.")


@dataclass
class HandoffConfig:
    """The handoff queue: how long a queued customer may stay silent, what wait to tell them."""

    abandon_minutes: float = _f(
        60.0,
        "A queued conversation whose customer has written nothing for this long is closed as abandoned "
        "(recorded; 0 keeps them); checked while the console's queue refreshes.",
    )
    default_wait_minutes: float = _f(
        5.0,
        "Expected wait told to a queued customer until 3 handoffs have been taken "
        "(then the median of the latest waits).",
    )


@dataclass
class AppConfig:
    host: str = _f("127.0.0.1", "Interface the Gradio server binds to (`0.0.0.0` on Spaces).")
    port: int = _f(7860, "Port of the Gradio server.")
    business_name: str = _f(
        "Northwind Goods", "The business the assistant speaks for: system prompt, page title, canned messages."
    )
    greeting: str = _f("", "First message of the chat; empty means a greeting built from `business_name`.")
    title: str = _f("", 'Title of the chat page; empty means "<business_name> support".')
    log_format: str = _f("text", "Log lines as plain text or one JSON object per line (`json`).")
    log_level: str = _f("INFO", "Lowest level logged: DEBUG, INFO, WARNING, ERROR.")
    concurrent_turns: int = _f(
        32, "Turns processed at once (tagging, retrieval, generation); more customers wait in line, told their place."
    )
    max_waiting: int = _f(48, "Turns allowed to wait in line; beyond that a customer is told to try again shortly.")
    turn_seconds: float = _f(
        90.0, "Time limit of a turn's reply, waiting included; then the reply ends with what it has."
    )
    colour: str = _f("#1d4ed8", "Accent colour of the customer page (CSS colour: buttons, title).")
    trusted_proxies: list = _f(
        [],
        'Addresses or networks of reverse proxies in front of the app (e.g. ["172.28.0.10"] or '
        '["10.0.0.0/8"]): only a request from one of them has its X-Forwarded-For read (the right-most '
        "address that is not a trusted proxy is the client's). Empty: the socket address is the client's.",
    )
    operator_token: str = _f(
        "",
        "Password of a bootstrap console account named `admin`, created at start when it does "
        "not exist (for Spaces, where there is no shell); set it by env, never in git. "
        "Named accounts: `loopdesk operator add NAME`.",
    )
    max_request_kb: int = _f(
        1024,
        "Largest request body the pages accept, in KB (a chat message is at most policy.max_message_chars; "
        "the page also sends the conversation shown). Larger ones get 413 before they are read.",
    )
    embed_origins: list = _f(
        ["*"],
        'Origins allowed to frame the customer page (the /widget.js button), e.g. ["https://shop.example.com"]; '
        "the console is never framed.",
    )


@dataclass
class ApiConfig:
    requests_per_minute: int = _f(60, "Calls each HTTP API key may make per minute (then 429 with Retry-After).")
    key_limits: list = _f(
        [], 'Per-key calls per minute overriding requests_per_minute, as "NAME=N" (e.g. ["shop=600"]).'
    )
    end_user_requests_per_minute: int = _f(
        20,
        "Calls per minute for each end user a key names in `end_user` (a site with many customers behind "
        "one key); 0 turns the per-user limit off.",
    )


@dataclass
class EmailConfig:
    smtp_host: str = _f(
        "", "SMTP server for e-mail to customers; empty: no e-mail, and no customer is told to expect any."
    )
    smtp_port: int = _f(587, "SMTP port (587 with STARTTLS, 25 on a local relay).")
    starttls: bool = _f(True, "Upgrade the SMTP connection with STARTTLS before logging in.")
    smtp_user: str = _f("", "SMTP login (empty: no login).")
    smtp_password: str = _f("", "SMTP password; set it by env (LOOPDESK_EMAIL_SMTP_PASSWORD), never in git.")
    from_address: str = _f("", "From: address of e-mails to customers (e.g. support@shop.example.com).")
    timeout_seconds: float = _f(10.0, "Give up on the SMTP server after this long (the reply stays in the chat).")


@dataclass
class ChatwootConfig:
    url: str = _f("", "Chatwoot's base URL (https://chatwoot.example.com); empty turns the agent-bot webhook off.")
    bot_token: str = _f("", "The Agent Bot's access token (Chatwoot: Settings > Bots); set it by env, never in git.")
    webhook_secret: str = _f("", "Secret path part of the webhook: /integrations/chatwoot/<secret>; set it by env.")


# Keys that moved to another section: old name -> new name (read under both, the old one with a warning).
MOVED = {
    "policy.abandon_minutes": "handoff.abandon_minutes",
    "policy.default_wait_minutes": "handoff.default_wait_minutes",
}
SECTIONS: dict[str, type] = {
    "paths": PathsConfig,
    "models": ModelsConfig,
    "generation": GenerationConfig,
    "retrieval": RetrievalConfig,
    "memory": MemoryConfig,
    "store": StoreConfig,
    "evaluation": EvaluationConfig,
    "policy": PolicyConfig,
    "handoff": HandoffConfig,
    "app": AppConfig,
    "api": ApiConfig,
    "email": EmailConfig,
    "chatwoot": ChatwootConfig,
}


@dataclass
class Config:
    paths: PathsConfig = field(default_factory=PathsConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    handoff: HandoffConfig = field(default_factory=HandoffConfig)
    app: AppConfig = field(default_factory=AppConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    chatwoot: ChatwootConfig = field(default_factory=ChatwootConfig)
    sources: dict[str, str] = field(default_factory=dict, repr=False)
    """`section.field` -> where the value came from (default, file path, env name, flag)."""
    file: str = field(default="", repr=False)
    """The config file read (absolute), "" when none: background jobs are started with it too."""
    flags: dict[str, str] = field(default_factory=dict, repr=False)
    """`--set` overrides as given (`section.field` -> text): background jobs get them too."""

    def command_args(self) -> list[str]:
        """The global options that rebuild this config in another `loopdesk` process (with the same
        environment and working directory): `--config FILE` and every `--set`."""
        args = ["--config", self.file] if self.file else []
        for key, value in self.flags.items():
            args += ["--set", f"{key}={value}"]
        return args

    @property
    def home(self) -> Path:
        return Path(os.path.expanduser(self.paths.home))

    @property
    def spool_path(self) -> Path:
        """Turns the database could not take wait here (`assistant.store.spool`)."""
        return self.home / "spool" / "turns.jsonl"

    @property
    def inbox_dir(self) -> Path:
        """Customers' messages as received, one file per process (`assistant.store.inbox`)."""
        return self.home / "spool" / "inbox"

    @property
    def index_dir(self) -> Path:
        return Path(self.retrieval.index_dir).expanduser() if self.retrieval.index_dir else self.home / "index"

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.home / 'loopdesk.db'}"

    @property
    def page_title(self) -> str:
        return self.app.title or f"{self.app.business_name} support"

    @property
    def greeting(self) -> str:
        return self.app.greeting or (
            f"Hi! I'm the {self.app.business_name} assistant. Ask me a question: I answer "
            "from our help pages, and I can hand you to a person at any time."
        )


def _coerce(value: Any, target: Any, where: str, problems: list[str]) -> Any:
    """Convert strings from env/flags (and TOML values) to the type of the default."""
    kind = type(target)
    try:
        if kind is bool:
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if kind is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return list(value)
        return kind(value)
    except (TypeError, ValueError):
        problems.append(f"{where}: cannot read {value!r} as {kind.__name__}")
        return target


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Build the effective config. `overrides` maps `section.field` to values from CLI flags."""
    env = dict(os.environ if env is None else env)
    cfg = Config()
    problems: list[str] = []
    for name, section in SECTIONS.items():
        for f in dataclasses.fields(section):
            cfg.sources[f"{name}.{f.name}"] = "default"

    def assign(key: str, value: Any, source: str) -> None:
        if key in MOVED:  # a file or script written before the key moved keeps working, told where it lives now
            log.warning("%s: %s is now %s", source, key, MOVED[key])
            if cfg.sources.get(MOVED[key]) == source:  # the same file (or env) also has the new name: it wins
                return
            key = MOVED[key]
        section, _, fname = key.partition(".")
        obj = getattr(cfg, section, None) if section in SECTIONS else None
        if obj is None or not hasattr(obj, fname):
            problems.append(f"{source}: unknown setting {key!r}")
            return
        setattr(obj, fname, _coerce(value, getattr(obj, fname), f"{source} {key}", problems))
        cfg.sources[key] = source

    file = Path(path or env.get("LOOPDESK_CONFIG") or "loopdesk.toml")
    if file.exists():
        cfg.file = str(file.resolve())
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML ({exc})") from exc
        for top, values in data.items():
            if not isinstance(values, dict):
                problems.append(f"{file}: top-level key {top!r} must be a [section]")
                continue
            for k, v in values.items():
                assign(f"{top}.{k}", v, str(file))
    elif path:
        problems.append(f"config file {file} does not exist")

    if "LOOPDESK_HOME" in env:
        assign("paths.home", env["LOOPDESK_HOME"], "env LOOPDESK_HOME")
    for old in MOVED:
        var = "LOOPDESK_" + old.replace(".", "_").upper()
        if var in env:
            assign(old, env[var], f"env {var}")
    for name, section in SECTIONS.items():
        for f in dataclasses.fields(section):
            var = f"LOOPDESK_{name}_{f.name}".upper()
            if var in env:
                assign(f"{name}.{f.name}", env[var], f"env {var}")
    for key, value in (overrides or {}).items():
        if value is not None:
            assign(key, value, "flag")
            cfg.flags[key] = str(value)
    problems += validate(cfg)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return cfg


def validate(cfg: Config) -> list[str]:
    """Every problem with a config, as readable lines (empty when the config is fine)."""
    p: list[str] = []
    g = cfg.generation
    if g.max_new_tokens < 1:
        p.append("generation.max_new_tokens must be >= 1")
    if cfg.app.log_format not in ("text", "json"):
        p.append("app.log_format must be text or json")
    if cfg.app.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        p.append("app.log_level must be DEBUG, INFO, WARNING or ERROR")
    if not re.fullmatch(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[a-zA-Z]{3,20}", cfg.app.colour or ""):
        p.append("app.colour must be a CSS colour like #1d4ed8 or a colour name")
    if g.temperature < 0:
        p.append("generation.temperature must be >= 0")
    if not 0 < g.top_p <= 1:
        p.append("generation.top_p must be in (0, 1]")
    if g.repetition_penalty <= 0:
        p.append("generation.repetition_penalty must be > 0")
    if g.device not in {"auto", "cpu", "cuda"}:
        p.append("generation.device must be auto, cpu or cuda")
    if g.reader not in {"checked", "extractive", "model"}:
        p.append("generation.reader must be checked, extractive or model")
    if g.first_text_seconds < 0:
        p.append("generation.first_text_seconds must be >= 0")
    if g.quantize not in {"none", "int8"}:
        p.append("generation.quantize must be none or int8")
    if g.engine not in {"auto", "llama.cpp", "transformers"}:
        p.append("generation.engine must be auto, llama.cpp or transformers")
    if g.weights not in {"auto", "bf16", "f16", "q8_0", "as-is"}:
        p.append("generation.weights must be auto, bf16, f16, q8_0 or as-is")
    if not 1 <= g.batch_slots <= 256 or g.threads < 0:
        p.append("generation.batch_slots must be 1..256 and generation.threads >= 0")
    if not 0 <= g.draft_tokens <= 32:
        p.append("generation.draft_tokens must be 0..32")
    if cfg.app.concurrent_turns < 1 or cfg.app.max_waiting < 0 or cfg.app.turn_seconds <= 0:
        p.append("app.concurrent_turns must be >= 1, app.max_waiting >= 0 and app.turn_seconds > 0")
    if g.context_tokens < g.max_new_tokens + 128:
        p.append("generation.context_tokens must leave at least 128 tokens for the prompt")
    if cfg.retrieval.mode not in {"dense", "bm25", "hybrid"}:
        p.append("retrieval.mode must be dense, bm25 or hybrid")
    if not 0 < cfg.memory.min_similarity <= 1:
        p.append("memory.min_similarity must be in (0, 1]")
    if cfg.retrieval.evidence_units < 1 or cfg.retrieval.fallback_units < 1:
        p.append("retrieval.evidence_units and retrieval.fallback_units must be >= 1")
    if cfg.generation.prompt_evidence not in ("key", "evidence"):
        p.append("generation.prompt_evidence must be key or evidence")
    if not 0 <= cfg.retrieval.key_margin <= 2:
        p.append("retrieval.key_margin must be 0..2 (a difference of cosines)")
    if not cfg.app.business_name.strip():
        p.append("app.business_name must not be empty")
    for proxy in cfg.app.trusted_proxies:
        try:
            ipaddress.ip_network(str(proxy).strip(), strict=False)
        except ValueError:
            p.append(f"app.trusted_proxies: {proxy!r} is not an IP address or network like 10.0.0.0/8")
    if not 16 <= cfg.app.max_request_kb <= 1024 * 1024:
        p.append("app.max_request_kb must be 16..1048576")
    for origin in cfg.app.embed_origins:
        if not re.fullmatch(r"\*|'self'|https?://[A-Za-z0-9.-]+(:\d+)?", str(origin)):
            p.append(f"app.embed_origins: {origin!r} is not an origin like https://shop.example.com (or *)")
    for limit in cfg.api.key_limits:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}=\d{1,7}", str(limit)):
            p.append(f'api.key_limits: {limit!r} is not "NAME=N" (a key name and calls per minute)')
    if cfg.api.requests_per_minute < 1 or cfg.api.end_user_requests_per_minute < 0:
        p.append("api.requests_per_minute must be >= 1 and api.end_user_requests_per_minute >= 0")
    if cfg.retrieval.k < 0:
        p.append("retrieval.k must be >= 0")
    if cfg.store.retries < 1:
        p.append("store.retries must be >= 1")
    if cfg.policy.negative_turns < 1:
        p.append("policy.negative_turns must be >= 1")
    if cfg.policy.max_message_chars < 100:
        p.append("policy.max_message_chars must be >= 100")
    if not 0 < cfg.app.port < 65536:
        p.append("app.port must be between 1 and 65535")
    if not cfg.models.generator:
        p.append("models.generator must not be empty")
    return p


def local_path(ref: str) -> Path | None:
    """A configured file or folder: as given if it exists or is absolute, else relative to the repo
    (so `models/taggers/ner` works from any working directory); None for an empty setting."""
    if not ref:
        return None
    p = Path(ref).expanduser()
    if not p.is_absolute() and not p.exists():
        p = Path(__file__).resolve().parent.parent / ref
    return p


# Languages the customer-facing messages and pages are written in (`assistant.turn.messages`); the
# owner's Settings choose among them. Here, in the shared top, so settings and messages agree.
LANGUAGES = ("en", "fr", "es", "de", "it", "pt")

SECRETS = {"app.operator_token", "chatwoot.bot_token", "chatwoot.webhook_secret", "email.smtp_password"}


def masked(key: str, value: Any) -> Any:
    """A setting as it may be shown: secrets hidden, a password inside a database URL too."""
    if key in SECRETS:
        return "(set, hidden)" if value else ""
    if isinstance(value, str) and "://" in value and "@" in value:
        return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", value)
    return value


def describe(cfg: Config) -> list[dict[str, Any]]:
    """Rows of (key, value, source, doc) for `loopdesk config show`; secrets are masked."""
    rows = []
    for name, section in SECTIONS.items():
        for f in dataclasses.fields(section):
            key = f"{name}.{f.name}"
            rows.append(
                {
                    "key": key,
                    "value": masked(key, getattr(getattr(cfg, name), f.name)),
                    "source": cfg.sources.get(key, "default"),
                    "doc": f.metadata.get("doc", ""),
                }
            )
    return rows
