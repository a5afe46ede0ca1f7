"""Imports point down the layers the folders show (ARCHITECTURE.md), and no module imports itself
back through another: storage and models (`bot/core`) at the bottom, `ingest/` and the answering
modules (`bot/*.py`) beside each other on top of them, the interfaces (`bot/interfaces`) above, and
the Streamlit pages on top. Read from the source (every import, lazy or not), so nothing runs."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "ingest", "app_pages")

# layer -> the layers its modules may import (its own included)
MAY_IMPORT = {
    "core": {"core"},
    "ingest": {"core", "ingest"},
    "answering": {"core", "answering"},
    "interfaces": {"core", "ingest", "answering", "interfaces"},
    "pages": {"core", "ingest", "answering", "interfaces"},
}


def layer(module: str) -> str:
    if module.startswith("bot.core"):
        return "core"
    if module.startswith("bot.interfaces"):
        return "interfaces"
    if module.startswith("bot"):
        return "answering"
    if module.startswith("ingest"):
        return "ingest"
    return "pages"  # app_pages.* and streamlit_app


def project_imports(source: str) -> set[str]:
    """The project modules `source` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def upward(module: str, source: str) -> list[str]:
    """The imports in `source` that break the layering for `module`."""
    allowed = MAY_IMPORT[layer(module)]
    return sorted(m for m in project_imports(source) if layer(m) not in allowed)


def modules() -> dict[str, str]:
    paths = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "streamlit_app.py"]
    named = {}
    for path in paths:
        parts = path.relative_to(ROOT).with_suffix("").parts
        named[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path.read_text()
    return named


def test_no_module_imports_upward() -> None:
    broken = {m: bad for m, source in modules().items() if (bad := upward(m, source))}
    assert not broken, f"upward imports (see ARCHITECTURE.md): {broken}"


def test_no_import_cycles() -> None:
    sources = modules()
    graph = {m: {i for i in project_imports(s) if i in sources and i != m} for m, s in sources.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path + [module, target]
            if target not in state and (cycle := visit(target, path + [module])):
                return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [])):
            raise AssertionError("import cycle: " + " -> ".join(cycle[cycle.index(cycle[-1]) :]))


def test_the_check_sees_a_lazy_upward_import() -> None:
    """Without this the rules could pass by seeing nothing: the store once built embedding
    models, and `bot` and `ingest` imported each other inside functions."""
    lazy = "def f():\n    from bot.chain import AnswerChain\n    import ingest.pipeline\n"
    assert upward("bot.core.store", lazy) == ["bot.chain", "ingest.pipeline"]
    assert upward("ingest.pipeline", "from bot.retrieve import HybridIndex") == ["bot.retrieve"]
    assert upward("bot.retrieve", "from ingest.web import fetch") == ["ingest.web"]
    assert upward("bot.interfaces.cli", "from app_pages import chat") == ["app_pages"]
    assert upward("app_pages.chat", "from bot.interfaces.resources import answer_chain") == []
