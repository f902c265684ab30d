"""The SLURM recipe run for real: tools/slurm_labs.py submits Dask workers as SLURM jobs through dask-jobqueue and runs
lab 1 on the tiny corpus on them. Needs a SLURM that answers (tools/slurm_up.sh starts a one-node one as root)."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]


def slurm_answers() -> bool:
    return shutil.which("sinfo") is not None and subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0


@pytest.fixture
def slurm():
    "A SLURM that answers: the running one, or a one-node one started by tools/slurm_up.sh (and stopped again afterwards)."
    pytest.importorskip("dask_jobqueue", reason='dask-jobqueue is not installed (pip install "labkit[dask]")')
    if slurm_answers(): yield; return
    if shutil.which("slurmctld") is None: pytest.skip("no SLURM here: slurmctld is not installed (apt-get install slurm-wlm munge)")
    if os.geteuid() != 0: pytest.skip("slurmctld is installed but not running, and starting it needs root (sudo tools/slurm_up.sh)")
    up = subprocess.run(["bash", str(ROOT / "tools" / "slurm_up.sh")], capture_output=True, text=True, timeout=120)
    if up.returncode != 0: pytest.fail(f"tools/slurm_up.sh failed:\n{up.stdout}\n{up.stderr}")
    try: yield
    finally: subprocess.run(["bash", str(ROOT / "tools" / "slurm_down.sh")], capture_output=True, timeout=120)  # no daemon left behind


@pytest.mark.slow
def test_a_tiny_lab_runs_on_slurm_jobs_through_dask_jobqueue(tmp_path, slurm):
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "slurm_labs.py"), "--only", "1", "--preset", "tiny",
                        "--jobs", "1", "--out", str(out), "--start-timeout", "240"],
                       capture_output=True, text=True, timeout=900, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    report = json.loads((out / "slurm.json").read_text())
    assert len(report["jobs"]) == 1 and report["jobs"][0].isdigit(), report["jobs"]      # a SLURM job id
    (lab,) = report["labs"]
    assert lab["name"] == "01_explore" and lab["status"] == "ok" and lab["metrics"]["n_classes"] == 10, lab
    assert lab["worker"].startswith("worker ") and lab["attempts"] == 1
    assert (tmp_path / ".run-slurm" / "logs" / f"dask-worker-{report['jobs'][0]}.err").is_file()   # the job's log, shared
    summary = json.loads((out / "summary.json").read_text())
    assert summary[0]["status"] == "ok"
