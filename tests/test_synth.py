"The embedded synthetic corpus: real layout and quirks, every genre present, determinism, caching, data module reads it."
import errno, json, os, re, time
import numpy as np, pandas as pd, pytest
from labkit.data import AFFECT, CLASS_MAPPING, FOLDERS, SpectrogramDataset, read_affect_labels, read_genre_labels
from labkit.core import LabkitError
from labkit.audio import extract_features, load_audio
from labkit.synth import GENRE_STYLES, affect_from_params, make_clip, make_corpus, plan_corpus, sample_params
from labkit.synth.corpus import _build_clip
from conftest import assert_label_quirks


@pytest.fixture(scope="module")
def tiny():
    return make_corpus("tiny", progress=False)


def test_layout_and_label_quirks(tiny):
    assert {p.name for p in tiny.iterdir()} >= set(FOLDERS.values()) | {"audio", "INFO.json"}
    for key in ("genre", "genre_beat", "multitask", "multitask_beat"):
        for split in ("train", "test"):
            files = list((tiny / FOLDERS[key] / split).iterdir())
            assert files and all(f.name.endswith(".fused.full.npy") for f in files)
    assert_label_quirks(tiny)
    x = np.load(next((tiny / FOLDERS["genre"] / "train").iterdir()))
    assert x.dtype == np.float64 and x.shape[0] == 140 and -80 <= x[:128].min() and x[:128].max() == 0


def test_every_genre_in_train_and_test(tiny):
    for split in ("train", "test"):
        for folder in ("genre", "genre_beat"):
            genres = {g for _, g in read_genre_labels(tiny / FOLDERS[folder] / f"{split}_labels.txt")}
            assert genres == set(CLASS_MAPPING)
    for beat in (False, True):
        tr = SpectrogramDataset(tiny, "genre", "train", beat=beat, verbose=False)
        te = SpectrogramDataset(tiny, "genre", "test", beat=beat, encoder=tr.encoder, verbose=False)
        assert len(tr.classes) == 10 and sorted(set(te.targets.tolist())) == list(range(10))


def test_affect_targets(tiny):
    ids, vals = read_affect_labels(tiny / FOLDERS["multitask"] / "train_labels.txt")
    assert vals.shape == (30, 3) and (vals >= 0).all() and (vals <= 1).all()
    assert (vals.std(0) > 0.05).all()  # spread on every axis
    ds = SpectrogramDataset(tiny, "multitask", "train", target="all", verbose=False)
    assert len(ds) == 30 and ds.targets.shape == (30, 3)
    assert len(list((tiny / FOLDERS["multitask"] / "test").iterdir())) == 10


def test_beat_arrays_have_beats_plus_one_frames(tiny):
    clips = pd.read_csv(tiny / "audio" / "clips.csv")
    for _, r in clips.head(15).iterrows():
        folder = FOLDERS["genre_beat" if r.task == "genre" else "multitask_beat"]
        assert np.load(tiny / folder / r.split / f"{r.id}.fused.full.npy").shape == (140, r.n_beats + 1)


def test_arrays_come_from_the_shipped_audio(tiny):
    clips = pd.read_csv(tiny / "audio" / "clips.csv")
    r = clips.iloc[5]
    feats = extract_features(load_audio(tiny / "audio" / r.task / r.split / f"{r.id}.flac"))
    folder = FOLDERS["genre" if r.task == "genre" else "multitask"]
    np.testing.assert_allclose(np.load(tiny / folder / r.split / f"{r.id}.fused.full.npy"), feats["full"], atol=1e-6)


def test_deterministic(tiny, tmp_path):
    assert plan_corpus("tiny", seed=0) == plan_corpus("tiny", seed=0) != plan_corpus("tiny", seed=1)
    job = plan_corpus("tiny", seed=0)[7]
    row = _build_clip((job, tmp_path))  # the same clip, built again elsewhere
    name = f"{job['id']}.fused.full.npy"
    for key in ("genre", "genre_beat"):  # here vs in a one-thread worker: float rounding only
        np.testing.assert_allclose(np.load(tmp_path / FOLDERS[key] / job["split"] / name),
                                   np.load(tiny / FOLDERS[key] / job["split"] / name), atol=1e-4)
    assert np.array_equal(make_clip("Jazz", seed=4, seconds=2.0)[0], make_clip("Jazz", seed=4, seconds=2.0)[0])
    assert not np.array_equal(make_clip("Jazz", seed=4, seconds=2.0)[0], make_clip("Jazz", seed=5, seconds=2.0)[0])


def test_cached_second_call_finds_the_corpus(tiny, monkeypatch):
    import labkit.synth.corpus as ls
    built = (tiny / "INFO.json").stat().st_mtime_ns
    monkeypatch.setattr(ls, "_build_corpus", lambda *a: pytest.fail("a finished corpus was built again"))
    assert make_corpus("tiny", progress=False) == tiny
    assert (tiny / "INFO.json").stat().st_mtime_ns == built
    info = json.loads((tiny / "INFO.json").read_text())
    assert info["preset"] == "tiny" and info["seed"] == 0 and "g" in info["key"]


def test_bad_requests(tmp_path, tiny):
    with pytest.raises(LabkitError, match="preset"): make_corpus("huge", out=tmp_path / "x")
    (tmp_path / "busy").mkdir(); (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(LabkitError, match="not an empty folder"): make_corpus("tiny", out=tmp_path / "busy")
    with pytest.raises(LabkitError, match="another corpus"): make_corpus("tiny", out=tiny, seed=3)
    with pytest.raises(LabkitError, match="Unknown genre"): sample_params("Polka", np.random.default_rng(0))


def test_styles_cover_the_raw_genres_and_merged_ones_are_alike():
    assert set(GENRE_STYLES) == set(CLASS_MAPPING)
    a = [affect_from_params(sample_params("Metal", np.random.default_rng(s)), np.random.default_rng(s)) for s in range(200)]
    b = [affect_from_params(sample_params("Classical", np.random.default_rng(s)), np.random.default_rng(s)) for s in range(200)]
    assert np.mean(a, 0)[1] > np.mean(b, 0)[1] + 0.2  # metal is more energetic than classical
    tempo = lambda g: np.mean([sample_params(g, np.random.default_rng(s))["tempo"] for s in range(200)])
    assert abs(tempo("Metal") - tempo("Punk")) < abs(tempo("Metal") - tempo("Classical"))


@pytest.mark.parametrize("kwargs,msg", [
    (dict(seed=-1), r"seed=-1 is not valid: expected a whole number >= 0"),
    (dict(seed=2.5), r"seed=2.5 is not valid"),
    (dict(seed="7"), r"seed='7' is not valid"),
    (dict(out="FILE"), r"--out .*FILE is an existing file, not a folder"),
    (dict(out="FILE/corpus"), r"Cannot create the corpus folder FILE/corpus \(FILE is a file, not a folder\)"),
    (dict(out=""), r"out='' is not valid: expected a folder path"),
    (dict(n_jobs=0), r"n_jobs=0 is not valid"),
])
def test_request_is_checked_before_anything_is_written(tmp_path, monkeypatch, kwargs, msg):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("mine")
    kwargs.setdefault("out", tmp_path / "corpus")
    with pytest.raises(LabkitError, match=msg):
        make_corpus("tiny", progress=False, **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"] and (tmp_path / "FILE").read_text() == "mine"


def test_cli_reports_a_bad_seed_or_out_without_a_traceback(tmp_path, capsys):
    from labkit.cli import main
    (tmp_path / "FILE").write_text("mine")
    assert main(["data", "synth", "--preset", "tiny", "--seed", "-1", "--out", str(tmp_path / "c")]) == 2
    assert "labkit: error: seed=-1 is not valid" in capsys.readouterr().err
    assert main(["data", "synth", "--preset", "tiny", "--out", str(tmp_path / "FILE")]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err


def _raise(error):
    def writer(*args, **kwargs): raise error
    return writer


@pytest.mark.parametrize("target,error,msg", [
    ("soundfile.write", None, r"no space left on device while writing .*\.flac \(LibsndfileError: System error\.\)"),
    ("numpy.save", OSError(errno.ENOSPC, "No space left on device"),
     r"no space left on device while writing .*\.fused\.full\.npy \(OSError: \[Errno 28\] No space left on device\)"),
    ("numpy.save", PermissionError(errno.EACCES, "Permission denied"), r"cannot write .*\.fused\.full\.npy \(PermissionError"),
])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_failed_write_is_named_and_leaves_nothing(tmp_path, monkeypatch, target, error, msg, n_jobs):
    import soundfile
    error = error or soundfile.LibsndfileError(2)  # what libsndfile raises when the disk is full: "System error."
    monkeypatch.setattr(target, _raise(error))  # workers are forked: they inherit the patch
    with pytest.raises(LabkitError, match=msg) as e:
        make_corpus("tiny", out=tmp_path / "corpus", n_jobs=n_jobs, progress=False)
    assert re.search(r"\(needs about 3\d MB; free \d+ MB on /", str(e.value))
    assert list(tmp_path.iterdir()) == []  # no corpus, no temporary folder, no lock file


@pytest.mark.slow  # builds a whole tiny corpus
def test_disk_full_at_the_end_leaves_no_finished_looking_corpus(tmp_path, monkeypatch):
    import labkit.synth.corpus as ls
    monkeypatch.setattr(ls, "write_multitask_labels", _raise(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(LabkitError, match=r"no space left on device while writing .*\.corpus\.tmp-\d+ .*needs about"):
        make_corpus("tiny", out=tmp_path / "corpus", progress=False)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    (tmp_path / ".corpus.tmp-999999999").mkdir()  # left by a build that was killed
    root = make_corpus("tiny", out=tmp_path / "corpus", progress=False)  # built afresh, not taken as finished
    assert (root / "INFO.json").exists() and len(pd.read_csv(root / "audio" / "clips.csv")) == 120
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]  # nothing beside the user's folder


def test_lock_excludes_and_leaves_no_file(tmp_path):
    import threading
    from labkit.core import cache_dir
    from labkit.core.cache import build_lock
    root, inside, most = tmp_path / f"corpus{os.getpid()}", [0], [0]   # a name no other test's build uses at the same time
    def build():
        with build_lock(root):
            inside[0] += 1; most[0] = max(most[0], inside[0]); time.sleep(0.05); inside[0] -= 1
    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert most[0] == 1
    assert list(tmp_path.iterdir()) == [] and not any((cache_dir() / "locks").glob(f"{root.name}-*.lock"))


def _start_synth(out, env):
    "`labkit data synth` on the tiny preset into `out`, in a session of its own; its pid and its two pool workers."
    import os, signal, subprocess, sys
    import psutil
    proc = subprocess.Popen([sys.executable, "-m", "labkit", "data", "synth", "--preset", "tiny", "--out", str(out)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent, deadline = psutil.Process(proc.pid), time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        workers = parent.children()
        if len(workers) >= 2 and list(out.parent.glob(f".{out.name}.tmp-{proc.pid}")): return proc, workers
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("labkit data synth did not start its two workers")


@pytest.mark.slow  # two synth starts (feature code compiled in each)
def test_kill_9_of_synth_leaves_no_worker_and_the_next_run_cleans_its_folder(tmp_path):
    import os, signal
    import psutil
    from labkit.audio.parallel import default_jobs
    if default_jobs() < 2: pytest.skip("one core: synth runs without worker processes")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("LABKIT_DATA", None)
    out = tmp_path / "tiny"
    first, workers = _start_synth(out, env)
    first.send_signal(signal.SIGKILL); first.wait()                 # kill -9: no clean-up in the parent
    _, alive = psutil.wait_procs(workers, timeout=60)
    for p in alive: p.kill()
    assert alive == [], f"{len(alive)} synth worker(s) outlived their killed parent"
    assert (tmp_path / f".tiny.tmp-{first.pid}").is_dir()          # what kill -9 leaves
    second, workers = _start_synth(out, env)                         # the next run removes it before it builds
    try: assert not (tmp_path / f".tiny.tmp-{first.pid}").exists()
    finally:
        second.send_signal(signal.SIGKILL); second.wait()
        assert psutil.wait_procs(workers, timeout=60)[1] == []


def test_the_corpus_carries_its_manifest_and_a_copy_is_checked_against_it(tiny, tmp_path, monkeypatch):
    import shutil
    from labkit.data import MANIFEST_NAME, validate_dataset
    m = json.loads((tiny / MANIFEST_NAME).read_text())
    assert (m["layout"], m["clips"], m["ignore"]) == ("labkit corpus", len(plan_corpus("tiny")), ["INFO.json"])
    assert "audio/clips.csv" in m["files"] and "INFO.json" not in m["files"] and sum(m["splits"].values()) == m["clips"]
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    (copy / MANIFEST_NAME).unlink(); (copy / "INFO.json").write_text("{}")   # a student's copy: its own build record
    assert validate_dataset(copy, tiny / MANIFEST_NAME)["ok"]
    gone = sorted((copy / "audio" / "genre" / "train").glob("*.flac"))[0]; gone.unlink()
    rep = validate_dataset(copy, tiny / MANIFEST_NAME)
    assert rep["missing"] == [gone.relative_to(copy).as_posix()] and not rep["ok"]
