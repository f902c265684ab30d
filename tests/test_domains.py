"Domains: readers for the native layouts of the real datasets, on fixtures written here in each layout (quirks included)."
import numpy as np, pandas as pd, pytest, soundfile as sf
from pathlib import Path

from labkit.core import LabkitError
from conftest import urbansound8k_layout, write_wav
from labkit.data import (DIGIT_CLASSES, detect_layout, read_audiomnist, read_csv_labels, read_esc50,
                         read_folder_per_class, read_gtzan, read_layout, read_speech_commands, read_urbansound8k)
from labkit.synth import load_domains

SR = 8000


def wav(path, seed=0, seconds=0.3): return write_wav(path, seed, seconds, SR)


def urbansound8k(root): return urbansound8k_layout(root, seconds=0.3)


def test_urbansound8k_folds_and_names(tmp_path):
    root = urbansound8k(tmp_path / "UrbanSound8K")
    t = read_urbansound8k(root)
    assert set(t.loc[t["split"] == "test", "fold"]) == {10} and (t["split"] == "train").sum() == 9
    assert detect_layout(root) == "urbansound8k"
    meta = pd.read_csv(root / "metadata" / "UrbanSound8K.csv")
    meta.loc[0, "classID"] = 7                                   # the file name says class 3
    meta.to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    with pytest.raises(LabkitError, match="classID 7"): read_urbansound8k(root)


def test_urbansound8k_missing_audio_is_named(tmp_path):
    root = urbansound8k(tmp_path / "UrbanSound8K")
    next((root / "audio" / "fold10").glob("*.wav")).unlink()
    with pytest.raises(LabkitError, match="missing"): read_urbansound8k(root)
    with pytest.raises(LabkitError, match="not folds"): read_urbansound8k(tmp_path / "UrbanSound8K", test_folds=(11,))


def test_esc50_five_folds(tmp_path):
    root = tmp_path / "ESC-50"; rows = []
    for k in range(10):
        f = f"{1 + k % 5}-{1000 + k}-A-{k % 2}.wav"; wav(root / "audio" / f, k)
        rows.append(dict(filename=f, fold=1 + k % 5, target=k % 2, category=["dog", "rain"][k % 2], esc10=True, src_file=1000 + k, take="A"))
    (root / "meta").mkdir(); pd.DataFrame(rows).to_csv(root / "meta" / "esc50.csv", index=False)
    t = read_layout(root)
    assert set(t.loc[t["split"] == "test", "fold"]) == {5} and len(t) == 10


def test_audiomnist_split_by_speaker(tmp_path):
    root = tmp_path / "AudioMNIST"
    for spk in ("01", "02", "03", "04", "05"):
        for d in range(3):
            for rep in range(2): wav(root / "data" / spk / f"{d}_{spk}_{rep}.wav", d + rep)
    (root / "data" / "audioMNIST_meta.txt").write_text("{}")     # the metadata file beside the speaker folders
    t = read_layout(root)
    assert detect_layout(root) == "audiomnist" and set(t["label"]) == set(DIGIT_CLASSES[:3])
    for spk, g in t.groupby("group"): assert g["split"].nunique() == 1   # a speaker is only in train or only in test
    assert set(t["split"]) == {"train", "test"}
    wav(root / "data" / "01" / "4_02_0.wav")                     # speaker 02's file in speaker 01's folder
    with pytest.raises(LabkitError, match="speaker 01"): read_audiomnist(root)


def test_speech_commands_lists_and_background_noise(tmp_path):
    root = tmp_path / "speech_commands"
    for w in ("yes", "no"):
        for spk in ("0a1b2c3d", "1f2e3d4c", "9a8b7c6d"): wav(root / w / f"{spk}_nohash_0.wav")
    wav(root / "_background_noise_" / "white_noise.wav", seconds=1.0)
    (root / "validation_list.txt").write_text("yes/1f2e3d4c_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/9a8b7c6d_nohash_0.wav\nno/9a8b7c6d_nohash_0.wav\n")
    t = read_speech_commands(root)
    assert set(t["label"]) == {"yes", "no"} and len(t) == 6
    assert t["split"].value_counts().to_dict() == {"train": 3, "test": 2, "val": 1}
    (root / "testing_list.txt").write_text("yes/gone_nohash_0.wav\n")
    with pytest.raises(LabkitError, match="missing"): read_speech_commands(root)


def test_gtzan_corrupt_file_is_counted_or_named(tmp_path):
    root = tmp_path / "GTZAN"
    for g in ("jazz", "rock"):
        for k in range(4): wav(root / "genres" / g / f"{g}.{k:05d}.wav", k)
    (root / "genres" / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.warns(UserWarning, match="skipped 1"): t = read_gtzan(root, split="random")
    assert len(t) == 8 and t.attrs["skipped"][0].endswith("jazz.00054.wav")
    with pytest.raises(LabkitError, match="jazz.00054.wav"): read_gtzan(root, split="random", on_error="raise")


def test_folder_per_class_and_csv(tmp_path):
    root = tmp_path / "mine"
    for c in ("a", "b"):
        for k in range(5): wav(root / c / f"{k}.wav", k)
    t = read_folder_per_class(root)
    assert len(t) == 10 and set(t["split"]) == {"train", "test"} and detect_layout(root) == "folder"
    (tmp_path / "list.csv").write_text("path,label,split\nmine/a/0.wav,a,train\nmine/b/0.wav,b,test\n")
    assert read_csv_labels(tmp_path / "list.csv")["split"].tolist() == ["train", "test"]
    (tmp_path / "bad.csv").write_text("file,class\nx.wav,a\n")
    with pytest.raises(LabkitError, match="lacks the column"): read_csv_labels(tmp_path / "bad.csv")


def test_load_domains_from_a_folder_of_native_layouts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    urbansound8k(tmp_path / "data" / "UrbanSound8K")
    for c in ("up", "down"):
        for k in range(4): wav(tmp_path / "data" / "Mine" / c / f"{k}.wav", k)
    d = load_domains(None, data_dir=tmp_path / "data", progress=False)
    assert sorted(d) == ["mine", "urbansound8k"]
    assert d["urbansound8k"].x_train.shape[1:] == (61, 20) and len(d["urbansound8k"].y_test) == 3


def test_load_domains_holds_out_the_official_protocols_first_fold_and_says_so(tmp_path, monkeypatch, capsys):
    import labkit.synth.domains as dom
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    urbansound8k(tmp_path / "data" / "UrbanSound8K")
    seen = {}
    monkeypatch.setattr(dom, "table_domain", lambda t, n, *a, **k: seen.setdefault(n, t))   # the table each domain is built from
    load_domains(None, data_dir=tmp_path / "data")
    t = seen["urbansound8k"]
    assert set(t.loc[t["split"] == "test", "fold"]) == {1} and set(t.loc[t["split"] == "train", "fold"]) == {2, 3, 10}
    assert "urbansound8k: fold 1 held out, one of urbansound8k's 4 official folds (the first)" in capsys.readouterr().out
    seen.clear(); load_domains(None, data_dir=tmp_path / "data", test_fold=10, progress=False)
    assert set(seen["urbansound8k"].loc[seen["urbansound8k"]["split"] == "test", "fold"]) == {10} and capsys.readouterr().out == ""
    with pytest.raises(LabkitError, match="test_fold=4 is not a fold"): load_domains(None, data_dir=tmp_path / "data", test_fold=4)
    with pytest.raises(LabkitError, match="not in"): load_domains(["esc50"], data_dir=tmp_path / "data", progress=False)


def speech_commands(root, words=("yes", "no", "up"), speakers=("0a1b2c3d", "1f2e3d4c", "9a8b7c6d", "5e6f7a8b")):
    for k, w in enumerate(words):
        for j, spk in enumerate(speakers): wav(root / w / f"{spk}_nohash_0.wav", 10 * k + j)
    (root / "validation_list.txt").write_text(f"{words[0]}/{speakers[1]}_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("".join(f"{w}/{speakers[-1]}_nohash_0.wav\n" for w in words))
    return root


def test_find_datasets_leaves_out_folders_without_audio(tmp_path):
    from labkit.data import write_fixture
    from labkit.data import find_datasets
    ntua = write_fixture(tmp_path / "ntua", n_train=4, n_test=2)        # the NTUA lab's four folders of .npy spectrograms
    assert find_datasets(ntua) == {}
    with pytest.raises(LabkitError, match="holds no dataset"): load_domains(None, data_dir=ntua, progress=False)
    speech_commands(tmp_path / "both" / "SpeechCommands"); urbansound8k(tmp_path / "both" / "UrbanSound8K")
    assert sorted(find_datasets(tmp_path / "both")) == ["speechcommands", "urbansound8k"]
    assert list(find_datasets(tmp_path / "both" / "UrbanSound8K")) == ["urbansound8k"]   # data_dir may be one dataset


@pytest.mark.slow
def test_lab_8_runs_on_native_layouts(tmp_path):
    "`labkit lab --only 8 --data-dir DIR` on a folder holding an UrbanSound8K and a Speech Commands layout: every run, metrics."
    import json, os, subprocess, sys
    data = tmp_path / "data"
    urbansound8k(data / "UrbanSound8K"); speech_commands(data / "speech_commands")
    params = dict(epochs=1, batch_size=8, min_steps=2, fractions=[1.0], freeze_curve=[2], n_jobs=1, device="cpu")
    r = subprocess.run([str(Path(sys.executable).parent / "labkit"), "lab", "--only", "8", "--data-dir", str(data),
                        "--out", str(tmp_path / "run"), *[a for k, v in params.items() for a in ("-p", f"{k}={v}")]],
                       capture_output=True, text=True, env={**os.environ, "LABKIT_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stdout + r.stderr
    m = json.loads((tmp_path / "run" / "08_cross_domain" / "metrics.json").read_text())
    assert sorted(m["domains"]) == ["speech_commands", "urbansound8k"] and "skipped" not in m
    assert 0 <= m["transfer_matrix"]["1"]["urbansound8k"]["speech_commands"] <= 1
    assert all(0 <= v["value"] <= 1 and 0 <= v["baseline"] <= 1 for v in m["vs_baseline"])
