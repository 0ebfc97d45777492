"""The layout's dependency rules, checked on the source: `assistant` never imports `index` or
`finetune` (except the one CLI module that composes every package's subcommands), `index` never
imports `finetune`, the sub-CLIs share `assistant.cli_common` instead of importing each other, and
no module-level import cycle exists between the project's modules."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("assistant", "index", "finetune")


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def test_dependencies_point_one_way():
    mods = modules()
    problems = []
    for name, path in mods.items():
        for target in imports(path):
            top = target.split(".")[0]
            if name.startswith("assistant") and top in ("index", "finetune") and name != "assistant.cli":
                problems.append(f"{name} imports {target}")
            if name.startswith("index") and top == "finetune":
                problems.append(f"{name} imports {target}")
    assert problems == []


def test_sub_clis_share_helpers_not_each_other():
    mods = modules()
    for name in ("index.cli", "finetune.cli", "assistant.console_cli"):
        targets = imports(mods[name])
        assert "assistant.cli" not in targets, f"{name} imports assistant.cli (an import circle)"
        assert "assistant.cli_common" in targets, name


def test_no_module_level_import_cycles():
    mods = modules()
    graph = {name: {t for t in imports(path, top_level_only=True) if t in mods and t != name}
             for name, path in mods.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2
    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []
