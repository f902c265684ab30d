"""Lab 1 under papermill, many times: the explorer cell must never stall the run."""
import pytest

from labkit.run.params import list_labs


@pytest.mark.slow
def test_the_explorer_lab_never_stalls(tmp_path):
    """Lab 1's explorer cell hung in about one papermill run in four while it drew into an `Output` widget (the client
    answers each capture on the channel it is polling for the cell's reply). Twelve fresh runs must all end: a
    1-in-4 stall would slip through with probability 0.75**12, about 3%."""
    from concurrent.futures import ThreadPoolExecutor
    from labkit.run.notebook import execute_notebook
    from labkit.synth import make_corpus
    make_corpus("tiny")
    lab = list_labs(only=[1])[0]
    run = lambda i: execute_notebook(lab, tmp_path / f"{i}.ipynb", dict(preset="tiny", out_dir=str(tmp_path / f"out{i}")),
                                     cell_timeout=60, timeout=240)
    with ThreadPoolExecutor(2) as pool: results = list(pool.map(run, range(12)))
    assert [r["status"] for r in results] == ["ok"] * 12, [r["error"] for r in results if r["error"]]
