"Reading the real layout, and every kind of bad input a user can hand the data layer."
import gzip, re, shutil
from pathlib import Path
import numpy as np, pytest, torch
from torch.utils.data import DataLoader, Dataset
from labkit.core import LabkitError
from labkit.data import (CLASS_MAPPING, FOLDERS, BucketBatchSampler, PadCollate, SpectrogramDataset, SplitView,
                         collate_padded, dataset_dir, index_files, pad_or_truncate, parse_id, read_affect_labels,
                         read_genre_labels, read_spectrogram, save_fused, spectrogram_shape, stratified_folds,
                         train_val_split, write_affect_labels, write_fixture, write_genre_labels)
from labkit.train import make_folds
from conftest import assert_label_quirks


def test_fixture_has_the_real_quirks(lab_root):
    assert sorted(p.name for p in lab_root.iterdir()) == sorted(FOLDERS.values())
    assert_label_quirks(lab_root)
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


# --- bad input: each names the file or value and the fix -------------------------------------------

def test_missing_dataset_folder(lab_root):
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


# --- affect label files: every row, every value, the header ------------------------------------------

AFFECT_HEADER = "Id,valence,energy,danceability\n"

def _affect(lab_root, text):
    path = lab_root / "multitask_dataset/train_labels.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_affect_decimal_comma_is_named(lab_root):
    path = _affect(lab_root, AFFECT_HEADER + "1000,0.5,0.5,0.5\n1007,0,312125,0,5,0,25\n")
    with pytest.raises(LabkitError, match=r"train_labels.txt, line 3: .*7 fields.*expected 4.*decimal comma"):
        read_affect_labels(path)


@pytest.mark.parametrize("row,what", [("1007,0.5,1.5,0.2", "energy = 1.5 is outside"),
                                      ("1007,-0.1,0.5,0.2", "valence = -0.1 is outside"),
                                      ("1007,0.5,0.5,nan", "danceability = nan is not a finite number"),
                                      ("1007,0.5,inf,0.5", "energy = inf is not a finite number"),
                                      ("1007,0.5,0.5,0.2,0.9", "5 fields.*expected 4"),
                                      ("1007,0.5,0.5", "3 fields.*expected 4"),
                                      (",0.5,0.5,0.5", "no clip id"),
                                      ('1007,"0,5",0.5,0.5', "valence = '0,5' is not a number.*decimal comma")])
def test_affect_bad_rows_name_file_and_line(lab_root, row, what):
    path = _affect(lab_root, AFFECT_HEADER + "1000,0.1,0.2,0.3\n" + row + "\n")
    with pytest.raises(LabkitError, match=rf"train_labels.txt, line 3: .*{what}"):
        read_affect_labels(path)


@pytest.mark.parametrize("header", ["Id,valence,arousal,danceability", "Id,valence,energy,danceability,tempo",
                                    "Id,valence,valence,danceability", "Name,valence,energy,danceability"])
def test_affect_header_names_checked(lab_root, header):
    path = _affect(lab_root, header + "\n1000,0.1,0.2,0.3\n")
    with pytest.raises(LabkitError, match=r"train_labels.txt, line 1: header .*expected.*Id.*valence.*energy.*danceability"):
        read_affect_labels(path)


def test_affect_header_any_order_and_case(lab_root):
    path = _affect(lab_root, " ENERGY ,Id,Danceability,valence\n0.25,1000,0.75,0.5\n")
    ids, vals = read_affect_labels(path)
    assert ids == ["1000"] and vals.tolist() == [[0.5, 0.25, 0.75]]


# --- duplicate ids ---------------------------------------------------------------------------------

def test_conflicting_duplicates_refused(lab_root):
    g = lab_root / "fma_genre_spectrograms/train_labels.txt"
    g.write_text("Id\tGenre\n1000.fused.full.npy.gz\tRock\n1007.fused.full.npy.gz\tPop\n1000.fused.full.npy.gz\tJazz\n")
    with pytest.raises(LabkitError, match=r"train_labels.txt: clip 1000 is labelled twice: 'Rock' on line 2 and 'Jazz' on line 4"):
        read_genre_labels(g)
    a = _affect(lab_root, AFFECT_HEADER + "1000,0.1,0.2,0.3\n1007,0.5,0.5,0.5\n1000,0.1,0.2,0.4\n")
    with pytest.raises(LabkitError, match=r"clip 1000 is labelled twice: .*on line 2 and .*on line 4"):
        read_affect_labels(a)


def test_identical_duplicates_kept_once_with_a_warning(lab_root):
    g = lab_root / "fma_genre_spectrograms/train_labels.txt"
    g.write_text("Id\tGenre\n1000.fused.full.npy.gz\tRock\n1007.fused.full.npy.gz\tPop\n1000.fused.full.npy.gz\tRock\n")
    with pytest.warns(UserWarning, match=r"train_labels.txt: 1 duplicate row.*line 2 and line 4"):
        assert read_genre_labels(g) == [("1000", "Rock"), ("1007", "Pop")]
    a = _affect(lab_root, AFFECT_HEADER + "1000,0.1,0.2,0.3\n1007,0.5,0.5,0.5\n1000,0.1,0.2,0.3\n1007,0.5,0.5,0.5\n")
    with pytest.warns(UserWarning, match=r"train_labels.txt: 2 duplicate row.*line 2 and line 4"):
        ids, vals = read_affect_labels(a)
    assert ids == ["1000", "1007"] and vals.shape == (2, 3)


# --- encodings -------------------------------------------------------------------------------------

GENRE_TEXT = "Id\tGenre\n1000.fused.full.npy.gz\tRock\n1007.fused.full.npy.gz\tPop\n"
AFFECT_TEXT = AFFECT_HEADER + "1000,0.1,0.2,0.3\n"

@pytest.mark.parametrize("kind", ["genre", "affect"])
def test_utf8_bom_is_read(tmp_path, kind):
    path = tmp_path / "labels.txt"
    path.write_bytes((GENRE_TEXT if kind == "genre" else AFFECT_TEXT).encode("utf-8-sig"))
    if kind == "genre": assert read_genre_labels(path) == [("1000", "Rock"), ("1007", "Pop")]
    else: assert read_affect_labels(path)[0] == ["1000"]


@pytest.mark.parametrize("kind", ["genre", "affect"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_named(tmp_path, kind, encoding):
    path = tmp_path / "labels.txt"
    path.write_bytes((GENRE_TEXT if kind == "genre" else AFFECT_TEXT).encode(encoding))
    read = read_genre_labels if kind == "genre" else read_affect_labels
    with pytest.raises(LabkitError, match=r"labels.txt .*UTF-16.*save it as UTF-8"):
        read(path)


@pytest.mark.parametrize("kind", ["genre", "affect"])
def test_latin1_named(tmp_path, kind):
    path = tmp_path / "labels.txt"
    text = GENRE_TEXT.replace("Pop", "Électronique") if kind == "genre" else AFFECT_TEXT.replace("1000", "1000é")
    path.write_bytes(text.encode("latin-1"))
    read = read_genre_labels if kind == "genre" else read_affect_labels
    with pytest.raises(LabkitError, match=r"labels.txt is not UTF-8: byte b'\\x(c9|e9)' at offset \d+ \(line \d\).*save it as UTF-8"):
        read(path)


# --- parameters ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [(0, "max_length=0"), (-5, "max_length=-5"), (2.5, "max_length=2.5"),
                                            ("30", "max_length='30'"), (True, "max_length=True")])
def test_max_length_validated(lab_root, value, expected):
    with pytest.raises(LabkitError, match=rf"{re.escape(expected)}.*whole number of frames"):
        SpectrogramDataset(lab_root, max_length=value, verbose=False)
    with pytest.raises(LabkitError, match=rf"{re.escape(expected)}"):
        PadCollate(max_length=value)


def test_whole_float_max_length_is_an_int(lab_root):
    ds = SpectrogramDataset(lab_root, "genre", max_length=30.0, verbose=False)
    assert ds.max_length == 30 and ds[0][0].shape[0] == 30


@pytest.mark.parametrize("call,expected", [
    (lambda r: SpectrogramDataset(r, pad_value=float("nan"), verbose=False), "pad_value=nan"),
    (lambda r: SpectrogramDataset(r, pad_value="-80", verbose=False), "pad_value='-80'"),
    (lambda r: SpectrogramDataset(r, beat="yes", verbose=False), "beat='yes'"),
    (lambda r: SpectrogramDataset(r, in_memory="no", verbose=False), "in_memory='no'"),
    (lambda r: SpectrogramDataset(r, transform=5, verbose=False), "transform=5"),
    (lambda r: SpectrogramDataset(r, class_mapping=["Rock"], verbose=False), r"class_mapping=\['Rock'\] is not valid"),
    (lambda r: SpectrogramDataset(r, "genre", target="valence", verbose=False), "target='valence'"),
    (lambda r: SpectrogramDataset(r, "multitask", target=[], verbose=False), r"target=\[\] names no affect axis"),
    (lambda r: SpectrogramDataset(r, "multitask", target=["energy", "energy"], verbose=False), "energy.*twice"),
    (lambda r: SpectrogramDataset(r, "multitask", target=5, verbose=False), "target=5"),
    (lambda r: SpectrogramDataset(r, encoder="abc", verbose=False), "encoder='abc'"),
    (lambda r: pad_or_truncate(torch.ones(4, 2), 0), "length=0"),
    (lambda r: pad_or_truncate(torch.ones(4, 2), 2.5), "length=2.5"),
    (lambda r: train_val_split(10, val_size="0.2"), "val_size='0.2'"),
    (lambda r: train_val_split(10, seed=-1), "seed=-1"),
    (lambda r: train_val_split(10, seed=1.5), "seed=1.5"),
    (lambda r: train_val_split(-3), "data=-3"),
    (lambda r: train_val_split(3, val_size=0.2), "no item for validation"),
    (lambda r: train_val_split(10, stratify=[0, 1]), "stratify has 2 labels.*10 items"),
    (lambda r: train_val_split(10, stratify=True), "stratify=True needs a dataset"),
    (lambda r: BucketBatchSampler([3, 4, 5], 0), "batch_size=0"),
    (lambda r: BucketBatchSampler([3, 4, 5], 2, pool_batches=-1), "pool_batches=-1"),
    (lambda r: BucketBatchSampler([3, 4, 5], 2, seed="a"), "seed='a'"),
    (lambda r: write_fixture(r / "w", n_train=0), "n_train=0"),
    (lambda r: write_fixture(r / "w", seed=-2), "seed=-2"),
    (lambda r: dataset_dir(r, "genre", beat=None), "beat=None"),
    (lambda r: write_genre_labels(r / "x.txt", ["1"], ["Rock"], style="weird"), "style='weird'"),
    (lambda r: write_genre_labels(r / "x.txt", ["1", "2"], ["Rock"]), "2 ids but 1 genres"),
    (lambda r: write_affect_labels(r / "x.txt", ["1", "2"], np.zeros((1, 3))), "2 ids but 1 rows"),
    (lambda r: write_affect_labels(r / "x.txt", ["1"], np.full((1, 3), 2.0)), r"outside \[0, 1\]"),
    (lambda r: dataset_dir(42), "data_dir=42"),
    (lambda r: index_files(None), "folder=None is not valid"),
    (lambda r: parse_id(None), "name=None is not valid"),
    (lambda r: spectrogram_shape(3), "path=3 is not valid"),
    (lambda r: read_affect_labels(None), "path=None is not valid"),
])
def test_bad_parameter_values_are_named(lab_root, call, expected):
    with pytest.raises(LabkitError, match=expected):
        call(lab_root)


# --- empty label files -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "Id\tGenre\n", "Id\tGenre\n\n  \n"])
def test_empty_genre_label_file_is_named(lab_root, text):
    path = lab_root / "fma_genre_spectrograms/train_labels.txt"
    path.write_text(text)
    with pytest.raises(LabkitError, match=r"fma_genre_spectrograms/train_labels.txt is empty") as e:
        SpectrogramDataset(lab_root, "genre", "train", verbose=False)
    assert "class mapping" not in str(e.value)


@pytest.mark.parametrize("text", ["", AFFECT_HEADER])
def test_empty_affect_label_file_is_named(lab_root, text):
    _affect(lab_root, text)
    with pytest.raises(LabkitError, match=r"multitask_dataset/train_labels.txt is empty"):
        SpectrogramDataset(lab_root, "multitask", "train", verbose=False)


# --- the file system: loops, dangling links, a file for a folder -------------------------------------

def test_symlinked_split_folder_loop(lab_root):
    split = lab_root / "fma_genre_spectrograms/train"
    shutil.rmtree(split); split.symlink_to(split)
    with pytest.raises(LabkitError, match=r"fma_genre_spectrograms/train is a symbolic link loop"):
        SpectrogramDataset(lab_root, "genre", "train", verbose=False)


@pytest.mark.parametrize("target", ["self", "nowhere"])
def test_bad_symlink_named_like_a_spectrogram(lab_root, target):
    link = lab_root / "fma_genre_spectrograms/train/5555.fused.full.npy"
    link.symlink_to(link if target == "self" else lab_root / "nowhere.npy")
    what = "a symbolic link loop" if target == "self" else "a symbolic link to .*nowhere.npy, which does not exist"
    with pytest.raises(LabkitError, match=rf"5555.fused.full.npy is {what}"):
        index_files(link.parent)
    with pytest.raises(LabkitError, match="5555.fused.full.npy"):
        SpectrogramDataset(lab_root, "genre", "train", verbose=False)


def test_looping_label_file_and_spectrogram(lab_root):
    labels = lab_root / "multitask_dataset/test_labels.txt"
    labels.symlink_to(labels)  # the unlabelled test split must not read it as "no labels"
    with pytest.raises(LabkitError, match="test_labels.txt is a symbolic link loop"):
        SpectrogramDataset(lab_root, "multitask", "test", verbose=False)
    spec = lab_root / "loop.npy"; spec.symlink_to(spec)
    with pytest.raises(LabkitError, match="loop.npy is a symbolic link loop"): spectrogram_shape(spec)
    with pytest.raises(LabkitError, match="loop.npy is a symbolic link loop"): read_spectrogram(spec)


def test_two_files_for_one_id_refused(lab_root):
    folder = lab_root / "fma_genre_spectrograms/train"
    shutil.copy(folder / "1000.fused.full.npy", folder / "1000.beatsync.fused.npy")
    with pytest.raises(LabkitError, match=r"1000.beatsync.fused.npy and 1000.fused.full.npy are both clip 1000"):
        index_files(folder)


def test_empty_spectrogram_refused(lab_root):
    np.save(lab_root / "fma_genre_spectrograms/train/1000.fused.full.npy", np.zeros((140, 0)))
    with pytest.raises(LabkitError, match=r"1000.fused.full.npy has 0 frames"):
        SpectrogramDataset(lab_root, "genre", "train", verbose=False)


# --- seeded batches: one sampler for length buckets and for one-task-per-batch ----------------------

def test_sampler_redraws_every_epoch_repeats_per_seed_and_resumes():
    lengths, tasks = np.arange(5, 45), np.repeat([0, 1, 2, 3], [10, 8, 6, 16])
    a, b = (BucketBatchSampler(lengths, 3, seed=7, groups=tasks, pool_batches=1) for _ in range(2))
    a0, a1 = list(a), list(a)  # two passes = two epochs
    assert {tuple(sorted(x)) for x in a0} != {tuple(sorted(x)) for x in a1}  # re-drawn, not just reordered
    assert (list(b), list(b)) == (a0, a1)
    assert BucketBatchSampler(lengths, 3, seed=8, groups=tasks).batches(0) != a0
    for batches in (a0, a1):
        assert sorted(i for x in batches for i in x) == list(range(40))
        assert all(len(set(tasks[x])) == 1 for x in batches)
    assert len({int(tasks[x[0]]) for x in a0[:6]}) > 1  # tasks interleave at random
    resumed = BucketBatchSampler(lengths, 3, seed=7, groups=tasks, pool_batches=1)
    resumed.load_state_dict(a.state_dict())  # what fit saves in last.pt
    assert list(resumed) == list(a)
    with pytest.raises(LabkitError, match="one group"): BucketBatchSampler(lengths, 3, groups=tasks[:5])


def test_sampler_without_groups_mixes_and_drop_last():
    s = BucketBatchSampler(np.zeros(20), 4, seed=1, pool_batches=1)
    assert len(s) == 5 and sorted(i for x in s.batches(0) for i in x) == list(range(20))
    assert len(BucketBatchSampler(np.zeros(22), 4, drop_last=True, pool_batches=1)) == 5


def test_collate_pads_and_stacks_dict_targets():
    items = [(torch.ones(n, 2), {'task': torch.tensor(k), 'target': torch.full((3,), float(k))}, n) for k, n in ((0, 3), (1, 5))]
    x, y, lengths = collate_padded(items, pad_value=-1.0)
    assert x.shape == (2, 5, 2) and (x[0, 3:] == -1).all() and lengths.tolist() == [3, 5]
    assert y['task'].tolist() == [0, 1] and y['target'].shape == (2, 3)
    dl = DataLoader(items, batch_sampler=BucketBatchSampler([3, 5], 1, groups=[0, 1]), collate_fn=collate_padded)
    assert sorted(int(y['task']) for _, y, _ in dl) == [0, 1]


# --- folds, caps and train-only scalers ------------------------------------------------------------

class Toy(Dataset):
    "Labelled (x (T, 4), y, length) items with ids, targets and lengths like SpectrogramDataset; records what was read."
    def __init__(self, n, kind='multiclass', seed=0, ids=None):
        rng = np.random.default_rng(seed)
        self.lengths = rng.integers(5, 12, size=n)
        self.xs = [torch.tensor(rng.normal(size=(int(t), 4)), dtype=torch.float32) for t in self.lengths]
        self.targets = rng.integers(0, 3, size=n) if kind == 'multiclass' else rng.uniform(size=(n, 3)).astype(np.float32)
        self.ids = ids if ids is not None else [f'{kind}{i}' for i in range(n)]
        self.accessed = set()
    def __len__(self): return len(self.xs)
    def __getitem__(self, i):
        self.accessed.add(int(i))
        return self.xs[i], torch.as_tensor(self.targets[i]), int(self.lengths[i])


def test_no_id_in_both_train_and_test_of_a_fold():
    ids = [f'clip{i // 2}' for i in range(40)]  # every clip listed twice (e.g. two crops)
    ds = Toy(40, ids=ids)
    folds = stratified_folds(ds.targets, n_splits=4, seed=0, groups=ids)
    for tr, te in folds:
        assert not {ids[i] for i in tr} & {ids[i] for i in te}
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(40))
    for fold in make_folds(ds, n_splits=4, seed=0, max_per_label=5):
        assert not set(fold.train.ids) & set(fold.test.ids)
        assert np.bincount(fold.train.targets).max() <= 5  # the cap applies to the training side
    reg = Toy(30, 'regression', ids=[f'r{i // 3}' for i in range(30)])
    for fold in make_folds(reg, n_splits=3, seed=1, scale=False):
        assert not set(fold.train.ids) & set(fold.test.ids)
    with pytest.raises(LabkitError, match="n_splits=50"): stratified_folds(ds.targets, n_splits=50, groups=ids)


def test_predefined_split_is_used_when_there_is_one():
    train, test = Toy(12, seed=0), Toy(5, seed=1, ids=[f't{i}' for i in range(5)])
    folds = make_folds(train, test, n_splits=4)
    assert len(folds) == 1 and len(folds[0].train) == 12 and folds[0].test.ids == test.ids


@pytest.mark.parametrize('predefined', [False, True])
def test_scalers_never_see_test_data(predefined):
    from labkit.audio import Normalizer
    train = Toy(24, 'regression', 0)
    test = Toy(6, 'regression', 1, ids=[f't{i}' for i in range(6)]) if predefined else None
    for fold in make_folds(train, test, n_splits=3, seed=0):
        train.accessed.clear()
        if test is not None: test.accessed.clear()
        refit = Normalizer('band').fit(SplitView(train, fold.train.indices))
        torch.testing.assert_close(fold.scaler.mean, refit.mean)
        seen = set(train.accessed)
        assert seen <= set(fold.train.indices.tolist())
        if not predefined: assert not seen & set(fold.test.indices.tolist())
        else: assert not test.accessed
    train.accessed.clear()
    folds = make_folds(train, test, n_splits=3, seed=0)
    if predefined: assert not test.accessed  # fitting every fold's scaler touched training items only
    x, _, n = folds[0].test[0]  # ...and the test side is transformed with the training side's statistics
    raw = (test if predefined else train)[int(folds[0].test.indices[0])][0]
    torch.testing.assert_close(x[:n], (raw[:n] - folds[0].scaler.mean) / folds[0].scaler.std)
