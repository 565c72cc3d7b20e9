"""The layering of docs/architecture.md, checked on the source: imports only go down
(algos -> envs -> core), no import cycle, no registry filled by importing the core, and the
installed package list covers every package folder."""

import ast
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"rlkit": "rlkit", "algos": "rlkit.algos", "envs": "rlkit.envs", "conf": "rlkit.conf"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [FOLDERS[rel.parts[0]], *rel.with_suffix("").parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module of ours that ``path`` imports (module level and inside functions);
    ``from pkg import name`` counts as ``pkg.name`` when that is a module."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if full in modules else node.module)
    return out


def graph() -> dict[str, set[str]]:
    modules = source_modules()
    return {name: {m for m in imports_of(path, modules) if m in modules and m != name}
            for name, path in modules.items()}


def layer(module: str) -> int:
    return 2 if module.startswith("rlkit.algos") else 1 if module.startswith("rlkit.envs") else 0


def test_imports_only_go_down():
    upward = [f"{m} -> {d}" for m, deps in graph().items() for d in deps if layer(d) > layer(m)]
    assert not upward, "imports that go up a layer (core < envs < algos):\n" + "\n".join(upward)


def test_no_bare_top_level_algos_or_envs_imports():
    bad = []
    for folder in ("rlkit", "algos", "envs", "benchmarks", "tests"):
        for p in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(p.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                bad += [f"{p.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("algos", "envs")]
    assert not bad, bad


def strongly_connected(g: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert strongly_connected(graph()) == []


def test_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_importing_the_core_registers_nothing():
    code = ("import gymnasium, sys\n"
            "import rlkit, rlkit.runner, rlkit.data, rlkit.nn, rlkit.rl.ppo, rlkit.rl.sac, rlkit.analysis\n"
            "assert not [i for i in gymnasium.registry if i.startswith('rlkit/')], 'ids registered'\n"
            "assert not [m for m in sys.modules if m.startswith(('rlkit.envs', 'rlkit.algos'))], 'upper'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_installed_package_list_covers_every_package_folder():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == {v: k for k, v in FOLDERS.items()}
    folders = {module_name(p) for f in FOLDERS for p in (ROOT / f).rglob("__init__.py")}
    assert set(tool["packages"]) == folders
