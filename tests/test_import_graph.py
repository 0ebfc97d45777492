"""The layout's dependency rules, checked on the source, function-level imports included.

`assistant/` is shared pieces at its top (config, types, errors, logs, models, metrics, and
`cli.common`, the helpers every sub-CLI shares) and walled sub-packages plus `build`; each may import only the ones listed in ALLOWED (imports for type
checking alone are exempt). `assistant` never imports `index` or `finetune` except the one CLI
module that composes every package's subcommands; `index` never imports `finetune`; the sub-CLIs
share `assistant.cli.common` instead of importing each other; no import cycle between modules,
function-level imports included.
"""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("assistant", "index", "finetune")
WALLS = ("turn", "grounding", "taggers", "serving", "store", "web", "cli", "memory", "reports")
# who may import whom (besides the shared top of `assistant`, which every part may import)
ALLOWED = {
    "assistant": set(),  # the shared pieces themselves
    "assistant.grounding": set(),
    "assistant.taggers": set(),
    "assistant.serving": set(),
    "assistant.store": set(),
    "assistant.memory": {"assistant.grounding"},
    "assistant.reports": {"assistant.grounding"},
    "assistant.turn": {"assistant.grounding", "assistant.store", "assistant.memory"},
    "assistant.web": {"assistant.turn", "assistant.store", "assistant.grounding", "assistant.taggers",
                      "assistant.memory", "assistant.reports"},
    "assistant.build": {"assistant.turn", "assistant.store", "assistant.serving", "assistant.taggers", "assistant.grounding",
                        "assistant.memory"},
    "assistant.cli": {"assistant." + w for w in WALLS} | {"assistant.build", "index", "finetune"},
    "index": {"assistant.grounding", "assistant.build"},
    "finetune": {"assistant." + w for w in WALLS if w != "web"} | {"assistant.build", "index"},
}


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of import nodes inside `if TYPE_CHECKING:` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            skip |= {id(n) for n in ast.walk(node)}
    return skip


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Project modules a file imports (`from a.b import c` names `a.b.c` too when that is a module)."""
    tree = ast.parse(path.read_text())
    skip = _typing_only(tree)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    mods = modules()
    return {m for m in found if m.split(".")[0] in PACKAGES and m in mods}


def part(module: str) -> str:
    """The wall a module lives behind: `assistant.turn`, `assistant.build`, `index`, ... or
    `assistant` for the shared top."""
    if module == "assistant.cli.common":  # what every package's sub-CLI shares: part of the shared top
        return "assistant"
    parts = module.split(".")
    if parts[0] != "assistant":
        return parts[0]
    if len(parts) > 1 and (parts[1] in WALLS or parts[1] == "build"):
        return f"assistant.{parts[1]}"
    return "assistant"


def test_each_part_imports_only_what_its_wall_allows():
    problems = []
    for name, path in modules().items():
        here = part(name)
        for target in imports(path):
            there = part(target)
            if there in (here, "assistant"):
                continue
            if name == "assistant.cli.main" and there in ("index", "finetune"):
                continue
            if there in ("index", "finetune") and here.startswith("assistant") and name != "assistant.cli.main":
                problems.append(f"{name} imports {target} (only assistant.cli.main composes other packages)")
            elif there not in ALLOWED[here]:
                problems.append(f"{name} imports {target} ({here} may import {sorted(ALLOWED[here]) or 'only the shared top'})")
    assert problems == []


def test_the_shared_top_imports_no_wall():
    mods = modules()
    for name, path in mods.items():
        if part(name) == "assistant":
            walls = {part(t) for t in imports(path)} - {"assistant"}
            assert walls == set(), f"{name} (shared) imports {walls}"


def test_sub_clis_share_helpers_not_each_other():
    mods = modules()
    for name in ("index.cli", "finetune.cli", "assistant.cli.console"):
        targets = imports(mods[name])
        assert "assistant.cli.main" not in targets, f"{name} imports assistant.cli.main (an import circle)"
        assert "assistant.cli.common" in targets, name


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return cycles


def test_no_module_level_import_cycles():
    mods = modules()
    graph = {n: {t for t in imports(p, top_level_only=True) if t != n} for n, p in mods.items()}
    assert _cycles(graph) == []


def test_no_import_cycle_even_through_function_level_imports():
    """A package's own __init__ is not an edge back (importing `a.b.c` runs `a.b` first anyway)."""
    mods = modules()
    graph = {n: {t for t in imports(p) if t != n and not n.startswith(t + ".")} for n, p in mods.items()}
    assert _cycles(graph) == []


def test_no_cycle_between_walls_even_through_function_level_imports():
    graph: dict[str, set[str]] = {}
    for name, path in modules().items():
        graph.setdefault(part(name), set()).update(part(t) for t in imports(path) if part(t) != part(name))
    for node in graph:
        graph[node].discard("assistant")  # everyone may use the shared top; it imports no wall (above)
    assert _cycles(graph) == []


def test_the_rules_catch_a_wrong_import(tmp_path):
    """The checker itself: a store module that imports the turn is reported."""
    assert part("assistant.store.store") == "assistant.store"
    assert "assistant.turn" not in ALLOWED["assistant.store"]
    assert part("assistant.config") == "assistant" and part("finetune.cli") == "finetune"
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
