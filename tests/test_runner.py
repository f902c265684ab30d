"`labkit lab` on a folder of toy labs: a failing lab is reported with its cell and error, the others still run."
import json, signal, socket, subprocess, sys, time
from pathlib import Path
from conftest import still_running
import nbformat, psutil, pytest

pytestmark = pytest.mark.slow  # every test starts kernels
LABKIT = str(Path(sys.executable).parent / "labkit")
HANG_GUARD = 300  # s: how long a poll waits for what it waits on before giving up (only a hung run takes that long)


def toy_lab(path, body):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}})
    params = "data_dir = None\npreset = 'tiny'\nepochs = 1\nbatch_size = 8\nseed = 0\ndevice = 'cpu'\nout_dir = 'out'"
    nb.cells = [nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, pathlib\nout = pathlib.Path(out_dir); out.mkdir(parents=True, exist_ok=True)"),
                nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def test_failing_lab_is_reported_and_the_rest_still_run(tmp_path, lab_root):
    labs = tmp_path / "labs"; labs.mkdir()
    toy_lab(labs / "01_ok.ipynb", "json.dump({'epochs': epochs}, open(out / 'metrics.json', 'w'))")
    toy_lab(labs / "02_broken.ipynb", "raise ValueError('the model diverged')")
    toy_lab(labs / "03_plot.ipynb", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\n"
                                    "json.dump({'seed': seed}, open(out / 'metrics.json', 'w'))")
    run = tmp_path / "run"
    r = subprocess.run([LABKIT, "lab", "--labs", str(labs), "--out", "run", "--data-dir", str(lab_root),
                        "-p", "epochs=3"], capture_output=True, text=True, cwd=tmp_path)  # a relative --out, as `make lab` gives
    assert r.returncode == 1, r.stderr
    summary = {s["name"]: s for s in json.loads((run / "summary.json").read_text())}
    assert [summary[n]["status"] for n in ("01_ok", "02_broken", "03_plot")] == ["ok", "failed", "ok"]
    assert "ValueError: the model diverged" in summary["02_broken"]["error"] and "cell" in summary["02_broken"]["error"]
    assert summary["01_ok"]["metrics"] == {"epochs": 3} and summary["03_plot"]["metrics"] == {"seed": 0}
    assert list((run / "03_plot" / "figures").glob("*.png"))  # figures are drawn inline and extracted
    md = (run / "summary.md").read_text()
    assert "## Failures" in md and "02_broken" in md and "| 01_ok | epochs | 3 |" in md
    assert (run / "02_broken.ipynb").exists()  # the executed notebook shows where it stopped
    assert (run / "01_ok" / "metrics.json").exists() and not (labs / "run").exists()  # outputs land in --out


def labkit_lab(tmp_path, labs, *args, **kw):
    return subprocess.run([LABKIT, "lab", "--labs", str(labs), "--out", str(tmp_path / "run"), *args],
                          capture_output=True, text=True, **kw)


def statuses(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return [c.metadata.get("papermill", {}).get("status") for c in nb.cells if c.cell_type == "code"]


def poll(happened, proc):
    "Wait until `happened()` is true or `proc` has ended; True when it happened (HANG_GUARD only stops a hung wait)."
    deadline = time.monotonic() + HANG_GUARD
    while not happened() and proc.poll() is None and time.monotonic() < deadline: time.sleep(0.1)
    return bool(happened())


def test_a_stalled_cell_times_out_and_the_next_lab_runs(tmp_path, lab_root):
    labs = tmp_path / "labs"; labs.mkdir()
    toy_lab(labs / "01_stall.ipynb", "import time\ntime.sleep(600)")
    toy_lab(labs / "02_ok.ipynb", "json.dump({'ok': 1}, open(out / 'metrics.json', 'w'))")
    r = labkit_lab(tmp_path, labs, "--data-dir", str(lab_root), "--cell-timeout", "4", timeout=120)
    assert r.returncode == 1, r.stderr
    summary = {s["name"]: s for s in json.loads((tmp_path / "run" / "summary.json").read_text())}
    assert summary["01_stall"]["status"] == "timed out" and "cell 4" in summary["01_stall"]["error"]
    assert summary["02_ok"]["status"] == "ok" and summary["02_ok"]["metrics"] == {"ok": 1}
    assert statuses(tmp_path / "run" / "01_stall.ipynb") == ["completed", "completed", "completed", "failed"]
    assert "Kernel is running over TCP" not in r.stderr + r.stdout  # kernel chatter goes to the lab's log file
    assert (tmp_path / "run" / "01_stall.log").exists()


def test_a_lab_longer_than_its_limit_is_stopped(tmp_path, lab_root):
    "A lab that never ends is stopped at its time limit (generous: a loaded machine starts kernels slowly); the next lab runs."
    labs = tmp_path / "labs"; labs.mkdir()
    toy_lab(labs / "01_slow.ipynb", "import time\nwhile True: time.sleep(0.5)")   # no cell limit is reached: only the lab's
    nb = nbformat.read(labs / "01_slow.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("json.dump({'after': 1}, open(out / 'metrics.json', 'w'))"))
    nbformat.write(nb, labs / "01_slow.ipynb")
    toy_lab(labs / "02_ok.ipynb", "json.dump({'ok': 1}, open(out / 'metrics.json', 'w'))")
    r = labkit_lab(tmp_path, labs, "--data-dir", str(lab_root), "--cell-timeout", "600", "--lab-timeout", "30", timeout=HANG_GUARD)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [s["status"] for s in summary] == ["timed out", "ok"] and "longer than 30 s" in summary[0]["error"], r.stderr
    assert r.returncode == 1 and summary[0]["metrics"] == {} and summary[1]["metrics"] == {"ok": 1}
    nb = nbformat.read(tmp_path / "run" / "01_slow.ipynb", as_version=4)
    assert "timed out" in nb.cells[0].source                     # a banner says what happened
    # the parameters cell, papermill's injected one, the set-up cell, the endless one, and the one after it that never ran
    assert statuses(tmp_path / "run" / "01_slow.ipynb") == ["completed", "completed", "completed", "failed", "pending"]
    assert not nb.cells[-1].outputs and nb.cells[-1].execution_count is None
    assert not list((tmp_path / "run").glob(".*.ipynb"))          # no temporary notebook left behind


def lock_holder(lock):
    "The pid the holder of a run folder's lock wrote beside it, or None while there is none."
    try: return json.loads(lock.with_name(lock.name + ".holder").read_text()).get("pid")
    except (OSError, ValueError): return None


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, lab_root):
    "While a first run holds the folder (its lab waits for the test's go), a second run is refused, told the first's pid."
    labs = tmp_path / "labs"; labs.mkdir()
    go = tmp_path / "go"
    toy_lab(labs / "01_held.ipynb", f"import time\nfor _ in range(6000):\n    if pathlib.Path({str(go)!r}).exists(): break\n"
                                    "    time.sleep(0.1)\njson.dump({'first': 1}, open(out / 'metrics.json', 'w'))")
    first = subprocess.Popen([LABKIT, "lab", "--labs", str(labs), "--out", str(tmp_path / "run"), "--data-dir", str(lab_root)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "run" / ".labkit.lock"
    try:
        assert poll(lambda: lock_holder(lock) == first.pid, first), f"the first run never held {lock}: {first.poll()}"
        second = labkit_lab(tmp_path, labs, "--data-dir", str(lab_root), timeout=HANG_GUARD)
        assert second.returncode == 2 and f"pid {first.pid}" in second.stderr and "--out" in second.stderr
        assert first.poll() is None and lock_holder(lock) == first.pid   # refused, and the first run still holds the folder
    finally:
        go.touch()                                                   # the first run's lab may finish now
    assert first.wait(timeout=HANG_GUARD) == 0, first.communicate()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())[0]["metrics"] == {"first": 1}
    assert not lock.exists() and not lock.with_name(lock.name + ".holder").exists()


def test_ctrl_c_writes_the_summary_and_exits_cleanly(tmp_path, lab_root):
    labs = tmp_path / "labs"; labs.mkdir()
    toy_lab(labs / "01_long.ipynb", "import time\ntime.sleep(300)")
    toy_lab(labs / "02_next.ipynb", "print('next')")
    proc = subprocess.Popen([LABKIT, "lab", "--labs", str(labs), "--out", str(tmp_path / "run"), "--data-dir", str(lab_root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,  # Ctrl-C as in a terminal, even when
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # the test runner ignores it
    def long_cell_running():
        tmp = list((tmp_path / "run").glob(".01_long.*.ipynb"))
        try: return bool(tmp) and "running" in tmp[0].read_text() and "time.sleep(300)" in tmp[0].read_text()
        except OSError: return False                               # renamed away as we read it
    assert poll(long_cell_running, proc), f"the long cell never ran: {proc.poll()}"
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)   # a loaded machine can be slow to stop a kernel
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [s["status"] for s in summary] == ["interrupted", "not run"]
    assert "interrupted" in (tmp_path / "run" / "summary.md").read_text()
    assert statuses(tmp_path / "run" / "01_long.ipynb")[-1] == "failed"  # the running cell; none marked completed after it
    assert not list((tmp_path / "run").glob(".*.ipynb"))


def test_labs_run_two_at_a_time(tmp_path, lab_root):
    labs = tmp_path / "labs"; labs.mkdir()
    for k in (1, 2, 3): toy_lab(labs / f"0{k}_toy.ipynb", f"json.dump({{'lab': {k}}}, open(out / 'metrics.json', 'w'))")
    r = labkit_lab(tmp_path, labs, "--data-dir", str(lab_root), "--jobs", "2", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [(s["status"], s["metrics"]) for s in summary] == [("ok", {"lab": k}) for k in (1, 2, 3)]
    assert (tmp_path / "run" / "02_toy.ipynb").exists() and (tmp_path / "run" / "02_toy" / "metrics.json").exists()


def test_a_skipped_lab_is_listed_as_skipped_with_its_reason(tmp_path, lab_root):
    labs = tmp_path / "labs"; labs.mkdir()
    toy_lab(labs / "01_affect.ipynb", "json.dump({'skipped': 'no affect labels here'}, open(out / 'metrics.json', 'w'))")
    r = labkit_lab(tmp_path, labs, "--data-dir", str(lab_root), timeout=HANG_GUARD)
    assert r.returncode == 0, r.stdout + r.stderr                  # nothing failed: the lab had nothing to do
    s = json.loads((tmp_path / "run" / "summary.json").read_text())[0]
    assert (s["status"], s["reason"], s["error"], s["attempts"]) == ("skipped", "no affect labels here", None, 1)
    assert s["worker"].split()[0] == socket.gethostname()
    first_table = (tmp_path / "run" / "summary.md").read_text().split("## Metrics")[0]
    assert "| 01_affect | skipped |" in first_table and "no affect labels here" in first_table
    assert "01_affect skipped in" in r.stdout and ": no affect labels here" in r.stdout   # the console says so too


def test_a_killed_papermill_is_reported_as_killed_and_leaves_no_kernel(tmp_path, lab_root):
    "Under --jobs 2, a lab whose papermill is killed is 'killed' (the signal), never a kernel's log line; its kernel ends too."
    labs = tmp_path / "labs"; labs.mkdir()
    pid_file = tmp_path / "kernel.pid"
    toy_lab(labs / "01_killed.ipynb", f"import os, signal, time, psutil\npathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
                                      "os.kill(psutil.Process().parent().pid, signal.SIGKILL)   # this kernel's papermill\n"
                                      "time.sleep(120)")
    toy_lab(labs / "02_ok.ipynb", "json.dump({'ok': 1}, open(out / 'metrics.json', 'w'))")
    r = labkit_lab(tmp_path, labs, "--data-dir", str(lab_root), "--jobs", "2", timeout=HANG_GUARD)
    assert r.returncode == 1, r.stdout + r.stderr
    summary = {s["name"]: s for s in json.loads((tmp_path / "run" / "summary.json").read_text())}
    killed = summary["01_killed"]
    assert killed["status"] == "killed" and "SIGKILL" in killed["error"], killed
    assert "IPKernelApp" not in killed["error"] and "TCP" not in killed["error"]
    assert summary["02_ok"]["status"] == "ok" and summary["02_ok"]["attempts"] == 1 and summary["02_ok"]["worker"], summary["02_ok"]
    assert not still_running([pid_file.read_text()], timeout=0)
    assert "| 01_killed | killed |" in (tmp_path / "run" / "summary.md").read_text()


def test_a_killed_runner_leaves_no_papermill_or_kernel_behind(tmp_path, lab_root):
    "kill -9 of `labkit lab`: its papermill child dies with it (a parent-death signal) and the kernel follows its papermill."
    labs = tmp_path / "labs"; labs.mkdir()
    pids = tmp_path / "pids"
    toy_lab(labs / "01_long.ipynb", f"import os, time, psutil\npathlib.Path({str(pids)!r}).write_text("
                                    "f'{os.getpid()} {psutil.Process().parent().pid}')\ntime.sleep(300)")
    runner = subprocess.Popen([LABKIT, "lab", "--labs", str(labs), "--out", str(tmp_path / "run"), "--data-dir", str(lab_root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try: assert poll(lambda: pids.exists() and len(pids.read_text().split()) == 2, runner), "the lab never started"
    finally: runner.kill()
    runner.wait()
    assert not still_running(pids.read_text().split())                    # the kernel and its papermill
