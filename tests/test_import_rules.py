"""The layering rules of the README's layout section, checked from the import
graph of every module of the distribution (all imports, those inside
functions included, read from the source: nothing is imported here)."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _packages() -> dict[str, Path]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {pkg: ROOT / folder for pkg, folder in cfg["package-dir"].items()}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in _packages().items():
        for path in sorted(folder.glob("*.py")):
            out[pkg if path.stem == "__init__" else f"{pkg}.{path.stem}"] = path
    return out


MODULES = _modules()
# Compiled extensions are modules too (their build specs are checked below).
EXTENSIONS = {"aqmllm.bridge._aqmcore", "aqmllm.models._studentc"}
KNOWN = set(MODULES) | EXTENSIONS


def _target(name: str) -> str | None:
    """The aqmllm module an imported name lives in (a package's names: the package)."""
    while name and name not in KNOWN:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """(imported aqmllm module, at module level?) for every import statement."""
    tree = ast.parse(path.read_text(), str(path))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested |= {id(n) for n in ast.walk(node)}
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] or [base]
        for name in names:
            target = _target(name)
            if target is not None and target != module:
                found.append((target, id(node) not in nested))
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "aqmllm"


def _violations(who: Callable[[str], bool], forbidden: Callable[[str, bool], bool]) -> list[str]:
    return [
        f"{m} imports {t}{'' if top else ' (in a function)'}"
        for m, edges in GRAPH.items()
        if who(m)
        for t, top in edges
        if forbidden(t, top)
    ]


ABI_LEAVES = {"aqmllm.bridge.layout", "aqmllm.bridge.errors"}
MODELS_MAY_USE = {"aqmllm.bridge.layout", "aqmllm.bridge._aqmcore"}
RULES: dict[str, Callable[[], list[str]]] = {
    "`bridge.layout` (the ABI view) and `bridge.errors` import nothing of aqmllm but the"
    " core binding `bridge._aqmcore`": lambda: _violations(
        lambda m: m in ABI_LEAVES, lambda t, top: t != "aqmllm.bridge._aqmcore"
    ),
    "`bridge` never imports `daemon`, `models` or `sim`": lambda: _violations(
        lambda m: _component(m) == "bridge",
        lambda t, top: _component(t) in ("daemon", "models", "sim"),
    ),
    "`models` never imports `daemon` or `sim`, and of `bridge` only `bridge.layout` and"
    " `bridge._aqmcore`": lambda: _violations(
        lambda m: _component(m) == "models",
        lambda t, top: (
            _component(t) in ("daemon", "sim")
            or (_component(t) == "bridge" and t not in MODELS_MAY_USE)
        ),
    ),
    "`daemon` never imports `sim`, and imports `models` only inside functions (it starts"
    " without torch)": lambda: _violations(
        lambda m: _component(m) == "daemon",
        lambda t, top: _component(t) == "sim" or (_component(t) == "models" and top),
    ),
    "no import cycles, inside functions or not": lambda: _cycles(),
    "each C extension is built by its own component's build spec": lambda: _extension_owners(),
}


def _cycles() -> list[str]:
    """Every strongly connected set of modules (Tarjan), as a readable cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[str] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w, _ in GRAPH.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(" <-> ".join(sorted(scc)))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def _extension_owners() -> list[str]:
    setup = (ROOT / "setup.py").read_text()
    specs = re.findall(r'"([\w/]+\.py):(\w+)"', setup)
    built = {}
    for spec, _ in specs:
        text = (ROOT / spec).read_text()
        for module in re.findall(r'set_source\(\s*"(aqmllm\.[\w.]+)"', text):
            built[module] = spec
    bad = [f"{m} is not built by any spec in setup.py" for m in EXTENSIONS if m not in built]
    for module, spec in built.items():
        folder = _packages()[module.rpartition(".")[0]].relative_to(ROOT)
        if Path(spec).parent != folder:
            bad.append(f"{module} (in {folder}/) is built by {spec}")
    return bad


def test_the_graph_sees_the_imports() -> None:
    # The parser finds what is there, at module level and inside functions.
    assert ("aqmllm.bridge.layout", True) in GRAPH["aqmllm.daemon.policies"]
    assert ("aqmllm.models.runtime", False) in GRAPH["aqmllm.daemon.policies"]
    assert ("aqmllm.bridge._aqmcore", True) in GRAPH["aqmllm.bridge.layout"]


def test_every_rule_is_written_in_the_readme() -> None:
    layout = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    lines = {line.removeprefix("- ").strip() for line in layout.splitlines()}
    missing = [rule for rule in RULES if rule not in lines]
    assert not missing, missing


def test_the_import_rules_hold() -> None:
    broken = {rule: bad for rule, check in RULES.items() if (bad := check())}
    assert not broken, "\n".join(f"{r}:\n  " + "\n  ".join(b) for r, b in broken.items())
