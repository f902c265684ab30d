"""What several test files share: the small dataset fixture, one thread for bit-exact runs, the tolerances and checks
that have one home here, and lab runs made once per test session (whichever pytest-xdist worker asks first)."""
import fcntl, json, os
import pytest
os.environ.setdefault("MPLBACKEND", "Agg")

# torchaudio's mel spectrogram against librosa's, in dB on a -80..0 scale: the tolerance nbs/02_audio/02_spectral.ipynb states
MEL_ATOL = 0.05       # largest difference in any cell
MEL_MEAN_ATOL = 1e-3  # mean difference over all cells

# the tiny parameters every lab run of the suite uses (a lab receives the ones it declares)
TINY = dict(epochs=1, batch_size=8, device="cpu", overfit_epochs=20, pretrain_epochs=1)  # one batch halves its loss in 20 (AST: to 0.28 of it)


@pytest.fixture
def lab_root(tmp_path):
    "A small dataset in the exact real layout (plain .npy, float64, real label quirks)."
    from labkit.data import write_fixture
    return write_fixture(tmp_path / "data", n_train=40, n_test=10)


@pytest.fixture
def one_thread():
    "Bit-exact comparisons need the same reduction order: one intra-op thread (restored afterwards)."
    import torch
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def assert_label_quirks(root):
    "The label files of a data root in the real dataset's layout, naming quirks included."
    from labkit.data import FOLDERS
    lines = lambda key, split: (root / FOLDERS[key] / f"{split}_labels.txt").read_text().splitlines()
    assert lines("genre", "train")[0] == "Id\tGenre" and lines("genre", "train")[1].split("\t")[0].endswith(".fused.full.npy.gz")
    assert lines("genre", "test")[1].split("\t")[0].endswith(".full.fused.npy.gz")
    assert lines("genre_beat", "train")[1].split("\t")[0].endswith(".beatsync.fused.npy.gz")
    assert lines("multitask", "train")[0] == "Id,valence,energy,danceability" and lines("multitask", "train")[1].split(",")[0].isdigit()
    assert not (root / FOLDERS["multitask"] / "test_labels.txt").exists()   # the multitask test clips are unlabelled


def without_times(history):
    "A training history's records without their wall times: what an exact resume must repeat."
    return [{k: v for k, v in r.items() if k != "time"} for r in history.records]


def assert_same_weights(a, b):
    "Two modules hold bit-identical state (parameters and buffers)."
    import torch
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# pytest-xdist (`--dist loadscope --no-loadscope-reorder`) gives each worker one file at a time (one class, where a
# file's tests are in classes), in the order collected: the longest start first, so that no long one starts last. The
# runner's toy labs come second: they need no compiled feature code, so one worker runs them while the tiny run waits
# for numba's first compile.
LONGEST_FIRST = ["test_labs.py", "test_runner.py", "test_labs_any_data.py", "test_student_copies.py", "test_assign.py",
                 "test_lab_assignments.py", "test_ddp.py", "test_recipes.py", "test_synth.py", "test_slurm.py",
                 "test_packaging.py", "test_calibration.py", "test_execute.py", "test_domains.py"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: each file keeps its own order


def once_per_session(tmp_path_factory, name, make):
    """`make(folder)` run once per test session; returns (folder, its JSON result). Under pytest-xdist every worker has
    its own session fixtures, so the first worker to ask runs it under a file lock in the session's shared temporary
    folder, and the others wait for the lock and read what it left there."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"): base = base.parent   # pytest-of-<user>/pytest-<n>: shared by the workers
    folder, result = base / name, base / f"{name}.json"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                             # released when the file closes
        if not result.exists(): result.write_text(json.dumps(make(folder), default=str))
    return folder, json.loads(result.read_text())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Every lab on the tiny preset with the tiny parameters and fit's live progress on (as a student in Jupyter has
    it), run once per session: (run folder, {lab name: its result})."""
    import papermill as pm
    from labkit.run.labs import run_labs
    from labkit.run.params import list_labs

    def run(out):
        declared = set().union(*(pm.inspect_notebook(str(lab)) for lab in list_labs()))
        before = os.environ.get("LABKIT_PROGRESS")
        os.environ["LABKIT_PROGRESS"] = "bar"
        try: return run_labs(out, preset="tiny", params={k: v for k, v in TINY.items() if k in declared})
        finally:
            if before is None: os.environ.pop("LABKIT_PROGRESS")
            else: os.environ["LABKIT_PROGRESS"] = before

    out, results = once_per_session(tmp_path_factory, "tiny_run", run)
    return out, {r["name"]: r for r in results}


def still_running(pids, timeout=30):
    "Those of `pids` still running (zombies aside) after waiting up to `timeout` s for them to end."
    import psutil
    procs = []
    for pid in pids:
        try: procs.append(psutil.Process(int(pid)))
        except psutil.NoSuchProcess: pass
    alive = psutil.wait_procs(procs, timeout=timeout)[1]
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def write_wav(path, seed=0, seconds=0.1, sr=8000):
    "A short noise clip at `path` (folders made), for layout fixtures."
    import numpy as np, soundfile as sf
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * np.random.default_rng(seed).normal(size=int(seconds * sr))).astype(np.float32), sr)
    return path


def urbansound8k_layout(root, seconds=0.1):
    "UrbanSound8K's layout with 12 clips of 3 classes over folds 1-3 and 10: audio/foldN/*.wav, metadata/UrbanSound8K.csv."
    import pandas as pd
    rows = []
    for k, (fs, cls, name) in enumerate([(100032, 3, "dog_bark"), (100263, 2, "children_playing"), (100648, 1, "car_horn")] * 4):
        fold = 10 if k >= 9 else 1 + k % 3
        f = f"{fs}-{cls}-0-{k}.wav"
        write_wav(root / "audio" / f"fold{fold}" / f, k, seconds)
        rows.append(dict(slice_file_name=f, fsID=fs, start=0.0, end=seconds, salience=1, fold=fold, classID=cls, **{"class": name}))
    (root / "metadata").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    return root
