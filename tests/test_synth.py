"The embedded synthetic corpus: real layout and quirks, every genre present, determinism, caching, data module reads it."
import json, time
import numpy as np, pandas as pd, pytest
from labkit.data import (AFFECT, CLASS_MAPPING, FOLDERS, LabkitError, SpectrogramDataset, read_affect_labels,
                         read_genre_labels)
from labkit.features import extract_features, load_audio
from labkit.synth import (GENRE_STYLES, _build_clip, affect_from_params, data_root, make_clip, make_corpus,
                          plan_corpus, sample_params)


@pytest.fixture(scope="module")
def tiny():
    return make_corpus("tiny", progress=False)


def test_layout_and_label_quirks(tiny):
    assert {p.name for p in tiny.iterdir()} >= set(FOLDERS.values()) | {"audio", "INFO.json"}
    for key in ("genre", "genre_beat", "multitask", "multitask_beat"):
        for split in ("train", "test"):
            files = list((tiny / FOLDERS[key] / split).iterdir())
            assert files and all(f.name.endswith(".fused.full.npy") for f in files)
    lines = lambda k, s: (tiny / FOLDERS[k] / f"{s}_labels.txt").read_text().splitlines()
    assert lines("genre", "train")[0] == "Id\tGenre" and lines("genre", "train")[1].split("\t")[0].endswith(".fused.full.npy.gz")
    assert lines("genre", "test")[1].split("\t")[0].endswith(".full.fused.npy.gz")
    assert lines("genre_beat", "train")[1].split("\t")[0].endswith(".beatsync.fused.npy.gz")
    assert lines("multitask", "train")[0] == "Id,valence,energy,danceability"
    assert not (tiny / FOLDERS["multitask"] / "test_labels.txt").exists()
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


def test_cached_second_call_is_instant(tiny):
    t = time.perf_counter()
    assert make_corpus("tiny", progress=False) == tiny
    assert time.perf_counter() - t < 0.5
    info = json.loads((tiny / "INFO.json").read_text())
    assert info["preset"] == "tiny" and info["seed"] == 0 and "g" in info["key"]


def test_bad_requests(tmp_path, tiny):
    with pytest.raises(LabkitError, match="preset"): make_corpus("huge", out=tmp_path / "x")
    (tmp_path / "busy").mkdir(); (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(LabkitError, match="not an empty folder"): make_corpus("tiny", out=tmp_path / "busy")
    with pytest.raises(LabkitError, match="another corpus"): make_corpus("tiny", out=tiny, seed=3)
    with pytest.raises(LabkitError, match="Unknown genre"): sample_params("Polka", np.random.default_rng(0))


def test_data_root(tiny, tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_DATA", raising=False)
    assert data_root(preset="tiny") == tiny
    assert data_root(tiny) == tiny
    monkeypatch.setenv("LABKIT_DATA", str(tiny))
    assert data_root() == tiny
    with pytest.raises(LabkitError): data_root(tmp_path / "nowhere")


def test_styles_cover_the_raw_genres_and_merged_ones_are_alike():
    assert set(GENRE_STYLES) == set(CLASS_MAPPING)
    a = [affect_from_params(sample_params("Metal", np.random.default_rng(s)), np.random.default_rng(s)) for s in range(200)]
    b = [affect_from_params(sample_params("Classical", np.random.default_rng(s)), np.random.default_rng(s)) for s in range(200)]
    assert np.mean(a, 0)[1] > np.mean(b, 0)[1] + 0.2  # metal is more energetic than classical
    tempo = lambda g: np.mean([sample_params(g, np.random.default_rng(s))["tempo"] for s in range(200)])
    assert abs(tempo("Metal") - tempo("Punk")) < abs(tempo("Metal") - tempo("Classical"))
