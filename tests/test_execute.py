"""labkit.run.many on a real Dask LocalCluster of worker processes: results come home, a failing run is recorded with its
cell, a worker killed in the middle of a run has the run retried and finished, a worker that cannot see the data says so."""
import json, os, sys
import psutil
from pathlib import Path
from conftest import still_running
import nbformat, pytest
from labkit.core import LabkitError
from labkit.run.many import NotebookRun, resolve_scheduler, run_many

KILL_WORKER_ONCE = """
import os, signal, psutil
marker = pathlib.Path(marker)
if not marker.exists():                          # first attempt: kill the Dask worker running this notebook
    marker.write_text('killed once')
    worker = psutil.Process().parent().parent()  # kernel -> papermill -> worker
    assert 'multiprocessing' in ' '.join(worker.cmdline()), worker.cmdline()  # never the test process itself
    os.kill(worker.pid, signal.SIGKILL)
    os._exit(1)
json.dump({'x2': x * x}, open(out / 'metrics.json', 'w'))
"""

KILL_NANNY_ONCE = """
import os, signal, time, psutil
marker = pathlib.Path(marker)
if not marker.exists():                          # first attempt: kill the nanny of the Dask worker running this notebook
    papermill = psutil.Process().parent()
    worker = papermill.parent()                  # kernel -> papermill -> worker -> nanny (a `dask worker` process)
    nanny = worker.parent()
    assert 'worker' in ' '.join(nanny.cmdline()) and nanny.pid != int(test_pid), nanny.cmdline()
    marker.write_text(f'{os.getpid()} {papermill.pid} {worker.pid}')
    os.kill(nanny.pid, signal.SIGKILL)
    time.sleep(120)                              # this kernel, its papermill and the worker must end all the same
json.dump({'x2': x * x}, open(out / 'metrics.json', 'w'))
"""


def toy(path, body="json.dump({'x2': x * x}, open(out / 'metrics.json', 'w'))"):
    "A tiny parameterized notebook (no labkit import: a kernel start is the whole cost)."
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1\nmarker = ''\ntest_pid = 0\ndata_dir = None\nout_dir = 'out'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, pathlib\nout = pathlib.Path(out_dir); out.mkdir(parents=True, exist_ok=True)"),
                nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


def run(tmp_path, nb, name, **params):
    home = tmp_path / "home"
    return NotebookRun(nb, home / f"{name}.ipynb", params, collect=home / name, cell_timeout=60, timeout=120)


@pytest.mark.slow
def test_runs_on_a_local_cluster_survive_a_killed_worker_and_a_failing_notebook(tmp_path, capsys):
    ok = toy(tmp_path / "ok.ipynb", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\n"
                                    "json.dump({'x2': x * x}, open(out / 'metrics.json', 'w'))")
    bad = toy(tmp_path / "bad.ipynb", "raise ValueError('the model diverged')")
    killer = toy(tmp_path / "killer.ipynb", KILL_WORKER_ONCE)
    marker = tmp_path / "killed-once"
    runs = [run(tmp_path, killer, "killer", x=5, marker=str(marker)), run(tmp_path, ok, "ok", x=2),
            run(tmp_path, ok, "nodata", data_dir=str(tmp_path / "not-mounted")), run(tmp_path, bad, "bad")]
    seen = []
    res = {r["name"]: r for r in run_many(runs, scheduler="local:2", retries=1, progress=False,
                                          on_result=lambda run, r: seen.append(run.name))}
    assert sorted(seen) == sorted(res)                    # each result reported as it finished
    assert (res["ok"]["status"], res["ok"]["metrics"]) == ("ok", {"x2": 4})
    assert res["ok"]["worker"].startswith("worker ") and str(os.getpid()) not in res["ok"]["worker"]  # ran in a worker
    assert (tmp_path / "home" / "ok.ipynb").exists() and (tmp_path / "home" / "ok.log").exists()
    assert list((tmp_path / "home" / "ok" / "figures").glob("*.png"))   # figures extracted here
    assert res["bad"]["status"] == "failed" and res["bad"]["cell"] == 4
    assert "ValueError: the model diverged" in res["bad"]["error"]
    assert marker.read_text() == "killed once"            # the first attempt did kill its worker ...
    assert (res["killer"]["status"], res["killer"]["metrics"]) == ("ok", {"x2": 25})  # ... and the retry finished
    assert res["killer"]["attempts"] == 2 and res["ok"]["attempts"] == 1 and res["killer"]["worker"].startswith("worker ")
    said = capsys.readouterr().out                        # the retry is said as it happens, naming the new worker
    assert f"killer: retried on {res['killer']['worker']} at tcp://" in said and "(attempt 2)" in said, said
    assert res["nodata"]["status"] == "failed" and "cannot use the data folder" in res["nodata"]["error"]
    assert "not-mounted" in res["nodata"]["error"] and not (tmp_path / "home" / "nodata.ipynb").exists()


def test_an_unknown_or_unreachable_scheduler_is_refused(tmp_path, monkeypatch):
    import labkit.run.many
    monkeypatch.setattr(labkit.run.many, "CONNECT_TIMEOUT", 1)
    monkeypatch.setenv("LABKIT_SCHEDULER", "slurm")
    with pytest.raises(LabkitError, match="LABKIT_SCHEDULER='slurm' is not a scheduler"): resolve_scheduler()
    with pytest.raises(LabkitError, match="No Dask scheduler answers at tcp://127.0.0.1:9"):
        run_many([run(tmp_path, toy(tmp_path / "ok.ipynb"), "x")], scheduler="tcp://127.0.0.1:9", progress=False)


def test_a_scheduler_without_dask_names_the_extra(tmp_path, monkeypatch):
    for m in ("dask", "distributed"): monkeypatch.setitem(sys.modules, m, None)   # as in a core install: no Dask
    with pytest.raises(LabkitError, match=r'pip install "labkit\[dask\]"'):
        run_many([run(tmp_path, toy(tmp_path / "ok.ipynb"), "x")], scheduler="local:1", progress=False)


@pytest.mark.slow
def test_a_killed_nanny_leaves_no_process_behind_and_its_run_is_retried_on_another_worker(tmp_path, capsys):
    "A scheduler and two `dask worker` processes (each a nanny with its worker): one nanny is killed mid-run."
    import subprocess, time
    bin_dir, info = Path(sys.executable).parent, tmp_path / "scheduler.json"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    cluster = [subprocess.Popen([bin_dir / "dask", "scheduler", "--scheduler-file", info, "--port", "0", "--no-dashboard"], **quiet)]
    try:
        deadline = time.monotonic() + 120
        while not info.exists() and time.monotonic() < deadline: time.sleep(0.2)
        cluster += [subprocess.Popen([bin_dir / "dask", "worker", "--scheduler-file", info, "--nworkers", "1", "--nthreads", "1",
                                      "--no-dashboard", "--local-directory", tmp_path / f"w{k}"], **quiet) for k in (1, 2)]
        address = json.loads(info.read_text())["address"]
        from distributed import Client
        with Client(address, timeout=60) as c: c.wait_for_workers(2, timeout=120)
        marker = tmp_path / "killed-once"
        killer = toy(tmp_path / "killer.ipynb", KILL_NANNY_ONCE)
        res = run_many([run(tmp_path, killer, "killer", x=5, marker=str(marker), test_pid=os.getpid())], scheduler=address,
                       retries=1, progress=False)[0]
        assert not still_running(marker.read_text().split())      # the first attempt's kernel, papermill and worker ended
        assert (res["status"], res["metrics"], res["attempts"]) == ("ok", {"x2": 25}, 2), res
        assert "killer: retried on worker " in capsys.readouterr().out
    finally:
        for p in cluster: p.kill()
        for p in cluster: p.wait()
