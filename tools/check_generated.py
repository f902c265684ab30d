"""Fail when generated files are stale: `export` (labkit/ vs nbdev_export), `clean` (notebooks vs nbdev_clean),
`readme` (README.md vs nbs/index.ipynb). Each one also brings the files up to date."""
import difflib, json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def render_readme():
    "Write README.md from nbs/index.ipynb: markdown cells as they are, code cells as python blocks."
    nb = json.loads((ROOT / "nbs" / "index.ipynb").read_text(encoding="utf-8"))
    parts = []
    for c in nb["cells"]:
        src = "".join(c["source"]).strip()
        if not src or src.startswith("#| hide"): continue
        parts.append(src if c["cell_type"] == "markdown" else f"```python\n{src}\n```")
    text = "<!-- Generated from nbs/index.ipynb: edit that notebook, then run `make readme`. -->\n\n" + "\n\n".join(parts) + "\n"
    (ROOT / "README.md").write_text(text, encoding="utf-8")

def snapshot(paths):
    return {p: p.read_text(encoding="utf-8") for p in paths}

def check(kind):
    if kind == "export":
        files = lambda: sorted((ROOT / "labkit").rglob("*.py"))
        cmd, fix = [str(BIN / "nbdev_export")], "run `nbdev_export` and commit labkit/ with the notebooks"
    elif kind == "clean":
        files = lambda: sorted(p for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        cmd, fix = [str(BIN / "nbdev_clean")], "run `nbdev_clean` and commit the cleaned notebooks"
    else:
        files = lambda: [ROOT / "README.md"]
        cmd, fix = render_readme, "run `make readme` and commit README.md"
    before = snapshot(files())
    if callable(cmd): cmd()
    else: subprocess.run(cmd, cwd=ROOT, check=True)
    after = snapshot(files())
    changed = sorted(set(before) ^ set(after) | {p for p in before.keys() & after.keys() if before[p] != after[p]})
    if not changed:
        print(f"{kind}: up to date ({len(after)} files)")
        return 0
    for p in changed:
        a, b = before.get(p, "").splitlines(), after.get(p, "").splitlines()
        sys.stdout.writelines(l + "\n" for l in list(difflib.unified_diff(a, b, str(p), str(p), lineterm=""))[:40])
    print(f"{kind}: {len(changed)} file(s) were stale: {', '.join(str(p.relative_to(ROOT)) for p in changed)}; {fix}.")
    return 1

if __name__ == "__main__":
    sys.exit(check(sys.argv[1]))
