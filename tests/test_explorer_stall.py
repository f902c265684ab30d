"""Lab 1 under papermill, many times: the explorer cell must never stall the run."""
import pytest

from labkit.run.params import list_labs


@pytest.mark.slow
def test_the_explorer_lab_never_stalls(tmp_path):
    """Lab 1's explorer cell once hung in about one papermill run in four, while it drew into an `Output` widget (the
    client answers each capture on the channel it is polling for the cell's reply). The explorer now shows its picture
    as a plain output replaced by display id, with no capture; four fresh runs, two at a time, guard against a stall
    coming back (a 1-in-4 stall slips through with probability 0.75**4, about a third: this is a tripwire, not proof)."""
    from concurrent.futures import ThreadPoolExecutor
    from labkit.run.notebook import execute_notebook
    from labkit.synth import make_corpus
    make_corpus("tiny")
    lab = list_labs(only=[1])[0]
    run = lambda i: execute_notebook(lab, tmp_path / f"{i}.ipynb", dict(preset="tiny", out_dir=str(tmp_path / f"out{i}")),
                                     cell_timeout=60, timeout=240)
    with ThreadPoolExecutor(2) as pool: results = list(pool.map(run, range(4)))
    assert [r["status"] for r in results] == ["ok"] * 4, [r["error"] for r in results if r["error"]]
