"""The package's layout holds: imports only go down the list of homes, no module imports itself back through others,
no model family is loaded from a list of strings, and no module grows past one idea's size."""
import ast, sys
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parent.parent / "labkit"
# the homes in the order they build on each other: each may import only from those before it
HOMES = ["core", "data", "audio", "synth", "models", "metrics", "train", "viz", "studies", "run", "teach", "cli"]


def module_name(path:Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__": parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict:
    return {module_name(p): p for p in PKG.rglob("*.py") if p.name != "_modidx.py"}


def imports_of(name:str, path:Path) -> list:
    "Every labkit module `name` imports, anywhere in the file (inside functions too), with the line."
    tree, out = ast.parse(path.read_text()), []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "labkit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else: target = node.module or ""
            if target.split(".")[0] != "labkit": continue
            for a in node.names:  # `from labkit.train import loop` names a module
                out.append((f"{target}.{a.name}" if f"{target}.{a.name}" in modules() else target, node.lineno))
    return out


def home(name:str) -> str|None:
    "The home of a module; None for the package's own entry points (`labkit`, `labkit.__main__`)."
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else None


def test_every_module_lives_in_a_home():
    assert {home(m) for m in modules()} - {None} <= set(HOMES), "a top-level name under labkit/ that is not a home"
    assert len({home(m) for m in modules()} - {None}) <= 12


def test_imports_only_go_down():
    upward = []
    for name, path in modules().items():
        h = home(name)
        if h is None: continue
        for target, line in imports_of(name, path):
            th = home(target)
            if th is None or th == h: continue
            if HOMES.index(th) > HOMES.index(h): upward.append(f"{path.relative_to(PKG.parent)}:{line} imports {target}")
    assert not upward, "imports that go up the list of homes:\n" + "\n".join(upward)


def test_no_circular_imports():
    mods = modules()
    graph = {n: {t for t, _ in imports_of(n, p) if t in mods and t != n} for n, p in mods.items()}
    # a package's __init__ imports its own modules; a module importing its package's __init__ closes a circle
    state, cycles = {}, []
    def visit(n, stack):
        state[n] = "open"; stack.append(n)
        for t in sorted(graph[n]):
            if state.get(t) == "open": cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state: visit(t, stack)
        stack.pop(); state[n] = "done"
    for n in sorted(graph):
        if n not in state: visit(n, [])
    assert not cycles, "circular imports:\n" + "\n".join(cycles)


def test_no_imports_by_name_strings():
    "A module is imported by an import statement, never by its name in a string (a broken family must fail loudly)."
    mods, offenders = modules(), []
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in mods and "." in node.value:
                offenders.append(f"{path.relative_to(PKG.parent)}:{node.lineno} names {node.value!r}")
    assert not offenders, offenders


@pytest.mark.parametrize("limit", [600])
def test_no_module_over_the_limit(limit):
    long = {n: len(p.read_text().splitlines()) for n, p in modules().items()}
    assert not {n: k for n, k in long.items() if k > limit}


def test_the_checker_sees_an_upward_and_a_circular_import(tmp_path, monkeypatch):
    "The rules above are checked on a made-up package, so they can fail."
    pkg = tmp_path / "labkit"
    for f, text in {"__init__.py": "", "core/__init__.py": "", "core/a.py": "from labkit.train.b import x\n",
                    "train/__init__.py": "", "train/b.py": "from .c import y\nx = 1\n",
                    "train/c.py": "def f():\n    from labkit.train.b import x\ny = 2\n"}.items():
        (pkg / f).parent.mkdir(parents=True, exist_ok=True); (pkg / f).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    with pytest.raises(AssertionError, match="core/a.py:1 imports labkit.train.b"): test_imports_only_go_down()
    with pytest.raises(AssertionError, match="labkit.train.b -> labkit.train.c -> labkit.train.b"): test_no_circular_imports()


def notebook_of(name:str) -> str|None:
    "The notebook a generated module names as its source, e.g. 'nbs/01_data/08_layouts.ipynb'."
    for line in modules()[name].read_text().splitlines()[:5]:
        if "File to edit:" in line: return line.split("File to edit:")[1].strip().rstrip(".").replace("../", "")
    return None


def test_notebooks_are_numbered_in_the_order_they_build_on_each_other():
    "Inside a home's folder a notebook's number is above those of the modules it imports from the same home."
    wrong = []
    for name, path in modules().items():
        nb = notebook_of(name)
        if nb is None or Path(nb).name.startswith("00_"): continue
        for target, line in imports_of(name, path):
            other = notebook_of(target) if target in modules() else None
            if other and Path(other).parent == Path(nb).parent and Path(other).name > Path(nb).name:
                wrong.append(f"{nb} imports {target} ({other}) at line {line}")
    assert not wrong, "\n".join(wrong)
