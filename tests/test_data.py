"Reading the real layout, and every kind of bad input a user can hand the data layer."
import gzip, shutil
import numpy as np, pytest, torch
from labkit.data import (CLASS_MAPPING, FOLDERS, LabkitError, PadCollate, SpectrogramDataset, dataset_dir,
                         find_data_root, read_spectrogram, save_fused, spectrogram_shape, train_val_split, write_fixture)


def test_fixture_has_the_real_quirks(lab_root):
    assert sorted(p.name for p in lab_root.iterdir()) == sorted(FOLDERS.values())
    genre = (lab_root / "fma_genre_spectrograms/train_labels.txt").read_text().splitlines()
    beat = (lab_root / "fma_genre_spectrograms_beat/train_labels.txt").read_text().splitlines()
    test = (lab_root / "fma_genre_spectrograms/test_labels.txt").read_text().splitlines()
    mt = (lab_root / "multitask_dataset/train_labels.txt").read_text().splitlines()
    assert genre[0] == "Id\tGenre" and genre[1].split("\t")[0].endswith(".fused.full.npy.gz")
    assert beat[1].split("\t")[0].endswith(".beatsync.fused.npy.gz")
    assert test[1].split("\t")[0].endswith(".full.fused.npy.gz")
    assert mt[0] == "Id,valence,energy,danceability" and mt[1].split(",")[0].isdigit()
    assert not (lab_root / "multitask_dataset/test_labels.txt").exists()
    f = next((lab_root / "fma_genre_spectrograms_beat/train").iterdir())
    assert f.name.endswith(".fused.full.npy") and np.load(f).dtype == np.float64


@pytest.mark.parametrize("feature,F", [("mel", 128), ("chroma", 12), ("fused", 140)])
@pytest.mark.parametrize("beat", [False, True])
def test_items_are_time_major_float32(lab_root, feature, F, beat):
    ds = SpectrogramDataset(lab_root, "genre", "train", feature=feature, beat=beat, verbose=False)
    x, y, n = ds[3]
    assert x.shape == (n, F) and x.dtype == torch.float32 and y.dtype == torch.int64
    raw = np.load(ds.files[3])
    rows = {"mel": slice(0, 128), "chroma": slice(128, 140), "fused": slice(0, 140)}[feature]
    np.testing.assert_allclose(x.numpy(), raw[rows].T.astype(np.float32))


def test_gz_and_npy_read_the_same(tmp_path):
    a = write_fixture(tmp_path / "a", n_train=8, n_test=4, gz=False)
    b = write_fixture(tmp_path / "b", n_train=8, n_test=4, gz=True)
    assert next((b / "fma_genre_spectrograms/train").iterdir()).name.endswith(".npy.gz")
    da, db = (SpectrogramDataset(r, "genre", "train", verbose=False) for r in (a, b))
    assert da.ids == db.ids and (da.lengths == db.lengths).all()
    assert torch.equal(da[2][0], db[2][0])


def test_kaggle_nesting_and_env(lab_root, tmp_path, monkeypatch):
    nested = tmp_path / "patreco3-multitask-affective-music"
    nested.mkdir(); shutil.move(str(lab_root), nested / "data")
    assert find_data_root(nested) == nested / "data"
    monkeypatch.setenv("LABKIT_DATA", str(nested))
    assert SpectrogramDataset(None, "genre", verbose=False).folder.parent == nested / "data"


def test_mapping_drops_are_counted_and_reported(lab_root, capsys):
    ds = SpectrogramDataset(lab_root, "genre", "train")
    dropped = {g for g, v in CLASS_MAPPING.items() if v is None}
    assert set(ds.dropped) == dropped and ds.n_dropped == 10 and len(ds) == 30
    out = capsys.readouterr().out
    assert "10 dropped" in out and "Indie-Rock 2" in out and "without a label" not in out
    (lab_root / "fma_genre_spectrograms/train/999.fused.full.npy").write_bytes(ds.files[0].read_bytes())
    assert SpectrogramDataset(lab_root, "genre", "train", verbose=False).n_unlabelled == 1


def test_one_encoder_for_train_and_test(lab_root):
    tr = SpectrogramDataset(lab_root, "genre", "train", verbose=False)
    te = SpectrogramDataset(lab_root, "genre", "test", verbose=False)  # test lacks some classes
    assert len(set(te.targets)) < len(tr.classes) and te.classes == tr.classes
    assert te.classes[te[0][1]] == CLASS_MAPPING["Rock"]


def test_multitask_targets_and_unlabelled_test(lab_root):
    ds = SpectrogramDataset(lab_root, "multitask", "train", target="energy", verbose=False)
    assert ds[0][1].shape == (1,) and ds.target_names == ["energy"]
    assert SpectrogramDataset(lab_root, "multitask", "train", verbose=False)[0][1].shape == (3,)
    te = SpectrogramDataset(lab_root, "multitask", "test", beat=True, verbose=False)
    assert len(te) == 10 and te.targets is None and te[0][1].item() == -1


def test_padding_truncation_and_collate(lab_root):
    ds = SpectrogramDataset(lab_root, "genre", "train", beat=True, max_length=30, pad_value=-80.0, verbose=False)
    assert all(ds[i][0].shape == (30, 140) for i in range(5)) and ds.lengths.max() == 30
    short = next(i for i in range(len(ds)) if np.load(ds.files[i]).shape[1] < 30)
    assert (ds[short][0][ds[short][2]:] == -80.0).all()
    full = SpectrogramDataset(lab_root, "genre", "train", beat=True, max_length="max", verbose=False)
    assert full[0][0].shape[0] == max(np.load(f).shape[1] for f in full.files)
    x, y, lengths = PadCollate(max_length=25)([ds[i] for i in range(4)])
    assert x.shape == (4, 25, 140) and lengths.max() <= 25


def test_lazy_and_in_memory_agree(lab_root):
    lazy = SpectrogramDataset(lab_root, "genre", "train", verbose=False)
    eager = SpectrogramDataset(lab_root, "genre", "train", in_memory=True, verbose=False)
    for i in (0, 7, len(lazy) - 1):
        assert torch.equal(lazy[i][0], eager[i][0]) and lazy[i][1] == eager[i][1]


def test_official_split_reproduced():
    idx = list(range(2305)); np.random.seed(420); np.random.shuffle(idx)
    tr, va = train_val_split(2305, val_size=0.33)
    assert len(va) == 760 and va.tolist() == idx[:760] and tr.tolist() == idx[760:]


# --- bad input: each names the file or value and the fix -------------------------------------------

def test_missing_root_and_folder(tmp_path, lab_root):
    with pytest.raises(LabkitError, match="does not exist"): find_data_root(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabkitError, match="holds none of the dataset folders"): find_data_root(tmp_path / "empty")
    shutil.rmtree(lab_root / "multitask_dataset_beat")
    with pytest.raises(LabkitError, match="multitask_dataset_beat"): dataset_dir(lab_root, "multitask", beat=True)


def test_label_id_without_file(lab_root):
    f = next((lab_root / "fma_genre_spectrograms/train").glob("1007.*")); f.unlink()
    with pytest.raises(LabkitError, match=r"no file.*1007"):
        SpectrogramDataset(lab_root, "genre", "train", verbose=False)


def test_missing_labels_file(lab_root):
    (lab_root / "fma_genre_spectrograms/test_labels.txt").unlink()
    with pytest.raises(LabkitError, match="test_labels.txt is missing"):
        SpectrogramDataset(lab_root, "genre", "test", verbose=False)


def test_wrong_shape_and_dtype(lab_root):
    folder = lab_root / "fma_genre_spectrograms/train"
    np.save(folder / "1000.fused.full.npy", np.zeros((128, 1293)))
    with pytest.raises(LabkitError, match=r"1000.fused.full.npy has shape \(128, 1293\).*mel only"):
        SpectrogramDataset(lab_root, "genre", "train", verbose=False)
    np.save(folder / "1000.fused.full.npy", np.zeros((140, 50), dtype=np.int16))
    with pytest.raises(LabkitError, match="dtype int16"):
        SpectrogramDataset(lab_root, "genre", "train", verbose=False)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_and_inf(lab_root, value):
    path = lab_root / "fma_genre_spectrograms/train/1021.fused.full.npy"  # a Post-Rock clip, kept by the mapping
    a = np.load(path); a[5, 9] = value; np.save(path, a)
    ds = SpectrogramDataset(lab_root, "genre", "train", verbose=False)
    with pytest.raises(LabkitError, match=r"1021.fused.full.npy holds NaN or inf \(first at frame 9, row 5\)"):
        ds[ds.ids.index("1021")]
    with pytest.raises(LabkitError, match="1021"):
        SpectrogramDataset(lab_root, "genre", "train", in_memory=True, verbose=False)


def test_unknown_genre_and_empty_after_mapping(lab_root):
    path = lab_root / "fma_genre_spectrograms/train_labels.txt"
    text = path.read_text()
    path.write_text(text.replace("\tRock\n", "\tShoegaze\n", 1))
    with pytest.raises(LabkitError, match=r"\['Shoegaze'\] are not in the class mapping"):
        SpectrogramDataset(lab_root, "genre", "train", verbose=False)
    path.write_text(text)
    with pytest.raises(LabkitError, match="no clip is left after the class mapping"):
        SpectrogramDataset(lab_root, "genre", "train", class_mapping={g: None for g in CLASS_MAPPING}, verbose=False)


@pytest.mark.parametrize("gz", [False, True])
def test_corrupt_and_truncated_files(tmp_path, gz):
    root = write_fixture(tmp_path / "d", n_train=8, n_test=4, gz=gz)
    path = SpectrogramDataset(root, "genre", "train", verbose=False).files[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut short
    if gz:  # a truncated gzip stream is found when the item is read
        ds = SpectrogramDataset(root, "genre", "train", verbose=False)
        with pytest.raises(LabkitError, match=path.name):
            ds[ds.files.index(path)]
    else:   # a truncated .npy is found from its header at construction
        with pytest.raises(LabkitError, match=f"{path.name} is truncated"):
            SpectrogramDataset(root, "genre", "train", verbose=False)
    path.write_bytes(b"not a numpy file at all")
    with pytest.raises(LabkitError, match=f"{path.name} is not a readable .npy file"):
        spectrogram_shape(path)


def test_bad_parameters(lab_root):
    with pytest.raises(LabkitError, match="feature='mfcc'"): SpectrogramDataset(lab_root, feature="mfcc")
    with pytest.raises(LabkitError, match="split='val'"): SpectrogramDataset(lab_root, split="val")
    with pytest.raises(LabkitError, match="task='speech'"): SpectrogramDataset(lab_root, task="speech")
    with pytest.raises(LabkitError, match="'arousal'"): SpectrogramDataset(lab_root, "multitask", target="arousal")
    with pytest.raises(LabkitError, match="val_size=1.5"): train_val_split(10, val_size=1.5)
    with pytest.raises(LabkitError, match="shape"): save_fused(lab_root / "x.npy", np.zeros((12, 5)))


def test_bad_label_lines(lab_root):
    path = lab_root / "multitask_dataset/train_labels.txt"
    path.write_text(path.read_text() + "1234,0.5,oops,0.2\n")
    with pytest.raises(LabkitError, match=r"line 42: '1234,0.5,oops,0.2'"):
        SpectrogramDataset(lab_root, "multitask", verbose=False)
    path = lab_root / "fma_genre_spectrograms/train_labels.txt"
    path.write_text("Id,Genre\n1000.fused.full.npy.gz,Rock\n")
    with pytest.raises(LabkitError, match="Id\\\\tGenre"):
        SpectrogramDataset(lab_root, "genre", verbose=False)
