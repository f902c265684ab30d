"""Every notebook, lab, benchmark, test or tool file named in prose exists: the markdown cells of the notebooks, the
markdown files, and the docstrings of labkit, bench, tools and tests. A lab renamed or a notebook moved otherwise
leaves the prose pointing at nothing (two notebooks once showed `labkit sweep` on a lab file that did not exist)."""
import ast, functools, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a path from the checkout's root (nbs/..., bench/..., tests/..., tools/...), or a numbered notebook or a
# benchmark/test script named on its own; placeholders such as bench/bench_<name>.py are not paths
ROOTED = re.compile(r"(?<![\w./-])((?:nbs|bench|tests|tools)/[\w./-]+\.(?:ipynb|py|md))(?![\w<>*{}])")
BARE = re.compile(r"(?<![\w.<>*{}-])(\d\d_\w+\.ipynb|bench_\w+\.py|test_\w+\.py)(?![\w<>*{}])")


@functools.cache
def prose(root):
    "[(where, text)] of every piece of prose in a checkout: markdown cells, markdown files, module/class/function docstrings."
    return list(_prose(root))


def _prose(root):
    for nb in sorted(root.glob("nbs/**/*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts: continue
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] == "markdown": yield f"{nb.relative_to(root)} cell {i}", "".join(cell["source"])
    for md in sorted([*root.glob("*.md"), *root.glob("bench/**/*.md")]): yield str(md.relative_to(root)), md.read_text()
    for py in sorted([*root.glob("labkit/**/*.py"), *root.glob("bench/**/*.py"), *root.glob("tools/**/*.py"),
                      *root.glob("tests/**/*.py")]):
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node):
                yield f"{py.relative_to(root)}:{getattr(node, 'name', '(module)')}", ast.get_docstring(node)


def named(text):
    "The paths a text names: from the checkout's root, and bare notebook or script names (also at the end of other paths)."
    rooted = ROOTED.findall(text)
    bare = [n for n in BARE.findall(text) if not any(r.endswith("/" + n) for r in rooted)]
    return list(dict.fromkeys(rooted + bare))


def found(root, name):
    "Whether a path named in prose is in the checkout: from its root, or a bare name in its home folder."
    if "/" in name: return (root / name).exists()
    home = "nbs" if name.endswith(".ipynb") else "bench" if name.startswith("bench_") else "tests"
    return any((root / home).rglob(name))


def missing_paths(root):
    "[(where, path)] for each path named in prose that does not exist."
    return [(where, name) for where, text in prose(root) for name in named(text) if not found(root, name)]


def test_the_scan_sees_paths_of_every_kind():
    text = ("Run nbs/labs/02_lstm_genre.ipynb, labs/04_cnn.ipynb or `05_transfer.ipynb`; see bench/results/ablation.md, "
            "bench/bench_ablation.py and tests/test_train.py. Not paths: bench/bench_<name>.py, bench/results/<name>.md, "
            "NN_name.ipynb, submissions/alice.ipynb.")
    assert named(text) == ["nbs/labs/02_lstm_genre.ipynb", "bench/results/ablation.md", "bench/bench_ablation.py",
                           "tests/test_train.py", "04_cnn.ipynb", "05_transfer.ipynb"]
    assert not found(ROOT, "nbs/labs/04_cnn.ipynb") and not found(ROOT, "04_cnn.ipynb") and found(ROOT, "02_lstm_genre.ipynb")
    assert len(prose(ROOT)) > 100                      # the notebooks, the README and the docstrings were all read


def test_every_path_named_in_prose_exists():
    missing = missing_paths(ROOT)
    assert not missing, "\n".join(f"{where} names {name}, which does not exist" for where, name in missing)
