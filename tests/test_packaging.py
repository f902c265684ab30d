"A regular (non-editable) install from a built wheel carries the labs: `labkit labs` lists and copies them, `labkit lab` runs one."
import json, os, shutil, subprocess, sys, sysconfig, tarfile, zipfile
from pathlib import Path
import pytest
import labkit

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_install_runs_a_lab(tmp_path):
    src = tmp_path / "src"                                    # build from a copy: the checkout stays untouched
    shutil.copytree(ROOT / "labkit", src / "labkit", ignore=shutil.ignore_patterns("__pycache__", "_labs"))
    shutil.copytree(ROOT / "nbs" / "labs", src / "nbs" / "labs", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for f in ("setup.py", "settings.ini", "pyproject.toml", "README.md", "MANIFEST.in", "LICENSE"): shutil.copy2(ROOT / f, src / f)
    run = lambda *cmd, **kw: subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=tmp_path, **kw)
    r = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src)
    assert r.returncode == 0, r.stderr
    wheel = next((tmp_path / "dist").glob("labkit-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in z.namelist())
        assert "labkit/__main__.py" in z.namelist()
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [l.split(":", 1)[1].strip() for l in meta.splitlines() if l.startswith("Requires-Dist:")]
    core = {r.split(";")[0].split("<")[0].split(">")[0].split("=")[0].strip() for r in requires if "extra ==" not in r}
    assert {"torch", "torchaudio", "pyyaml", "psutil", "filelock"} <= core         # the labs on a CPU
    assert not core & {"torchvision", "dask", "distributed", "bokeh", "tensorboard"}   # each in its extra
    for extra, pkg in (("dask", "distributed"), ("vision", "torchvision"), ("tensorboard", "tensorboard"), ("dev", "dask")):
        assert any(r.startswith(pkg) and f'extra == "{extra}"' in r for r in requires), (extra, requires)
    env = tmp_path / "env"
    assert run(sys.executable, "-m", "venv", env).returncode == 0
    r = run(env / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    assert r.returncode == 0, r.stderr
    # the dependencies come from this environment's site-packages, appended after the new one (labkit from the wheel wins)
    new_site = run(env / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(new_site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    from labkit.core import cache_dir
    environ = {**os.environ, "LABKIT_CACHE": str(cache_dir()), "PATH": f"{env / 'bin'}:{os.environ['PATH']}"}
    where = run(env / "bin" / "python", "-c", "import labkit; print(labkit.__file__)", env=environ).stdout
    assert where.startswith(new_site), where                   # the wheel's labkit, not the checkout's
    assert run(env / "bin" / "python", "-m", "labkit", "--version", env=environ).stdout.strip() == "labkit " + labkit.__version__
    assert "\n    bench " not in run(env / "bin" / "labkit", "--help", env=environ).stdout   # no bench/ in a wheel
    listed = run(env / "bin" / "labkit", "labs", "list", env=environ).stdout.split()
    assert listed and all(p.startswith(new_site) and "_labs" in p for p in listed)
    copied = run(env / "bin" / "labkit", "labs", "copy", tmp_path / "mine", "--only", "1", env=environ)
    assert copied.returncode == 0 and (tmp_path / "mine" / "01_explore.ipynb").exists()
    lab = run(env / "bin" / "labkit", "lab", "--only", "1", "--preset", "tiny", "--out", tmp_path / "run", env=environ)
    assert lab.returncode == 0, lab.stdout + lab.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary[0]["status"] == "ok" and summary[0]["metrics"]["n_classes"] == 10


@pytest.mark.slow
def test_the_sdist_carries_the_license_and_rebuilds_the_package(tmp_path):
    src = tmp_path / "src"
    for d in ("labkit", "nbs", "tools"):
        shutil.copytree(ROOT / d, src / d, ignore=shutil.ignore_patterns("__pycache__", "_labs", ".ipynb_checkpoints"))
    for f in ("setup.py", "settings.ini", "pyproject.toml", "README.md", "MANIFEST.in", "LICENSE"): shutil.copy2(ROOT / f, src / f)
    r = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path / "dist")], capture_output=True,
                       text=True, cwd=src)
    assert r.returncode == 0, r.stderr
    sdist = next((tmp_path / "dist").glob("labkit-*.tar.gz"))
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
        t.extractall(tmp_path / "unpacked", filter="data")
    assert {"LICENSE", "nbs/11_cli.ipynb", "nbs/12_main.ipynb", "nbs/00_core/04_lock.ipynb", "settings.ini"} <= names
    unpacked = next((tmp_path / "unpacked").iterdir())
    shutil.rmtree(unpacked / "labkit")                          # the package comes back from the notebooks alone
    r = subprocess.run([str(Path(sys.executable).parent / "nbdev_export")], capture_output=True, text=True, cwd=unpacked)
    assert r.returncode == 0, r.stderr
    for f in ("cli.py", "__main__.py", "core/lock.py", "run/notebook.py"):
        assert (unpacked / "labkit" / f).read_text() == (ROOT / "labkit" / f).read_text(), f
