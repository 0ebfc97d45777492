"""Write ABCD's agent guidelines as a knowledge-base folder: one markdown page per flow.

    python benchmarks/answer_sets/abcd/make_kb.py OUT_DIR [--data ../shared/data/abcd]

The guidelines (`guidelines.json`, MIT, ASAPP's Action-Based Conversations Dataset) are read from
`../shared/data` at run time and never copied into this repository. Each flow becomes `<flow>.md`
with its description, and one `##` section per subflow: the steps an agent takes (button, what
to do, the sub-points) and the subflow's instructions.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "abcd"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def flow_page(flow: str, spec: dict) -> str:
    lines = [f"# {flow}", "", f"This guide covers {spec.get('description', flow).strip()}.", ""]
    for sub, body in spec.get("subflows", {}).items():
        lines += [f"## {sub}", ""]
        for n, action in enumerate(body.get("actions", []), 1):
            button = action.get("button", "")
            step = action.get("text", "").strip()
            label = f" ({button})" if button and button != "N/A" and f"[{button}]" not in step else ""
            lines.append(f"{n}. {step}{label}")
            lines += [f"   - {s.strip()}" for s in action.get("subtext", []) if s.strip()]
        instructions = [i.strip() for i in body.get("instructions", []) if i.strip()]
        if instructions:
            lines += ["", "Notes:"] + [f"- {i}" for i in instructions]
        lines.append("")
    return "\n".join(lines)


def write_kb(out: Path, data: Path = DEFAULT_DATA) -> list[Path]:
    guidelines = json.loads((data / "guidelines.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for flow, spec in guidelines.items():
        path = out / f"{slug(flow)}.md"
        path.write_text(flow_page(flow, spec), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    for path in write_kb(args.out, args.data.resolve()):
        print(path)


if __name__ == "__main__":
    main()
