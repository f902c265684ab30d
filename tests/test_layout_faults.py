"""Damaged copies of every downloaded layout: each fault gets a LabkitError naming the file, the line (or folder) and the
fix, or is read correctly (platform debris skipped and counted, Windows separators accepted when the file exists)."""
import numpy as np, pandas as pd, pytest, soundfile as sf
from pathlib import Path

from labkit.core import LabkitError
from conftest import urbansound8k_layout, write_wav
from labkit.data import detect_layout, fold_protocol, gtzan_filtered, read_fsd50k, read_gtzan, read_layout

SR = 8000


def wav(path, seed=0): return write_wav(path, seed, 0.1, SR)


def csv_lines(path, edit):
    "Rewrite a text file through `edit(lines) -> lines`."
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")


urbansound8k = urbansound8k_layout


def esc50(root):
    rows = []
    for k in range(10):
        target, fold = [0, 10][k % 2], 1 + k % 5
        f = f"{fold}-{1000 + k}-A-{target}.wav"; wav(root / "audio" / f, k)
        rows.append(dict(filename=f, fold=fold, target=target, category=["dog", "rain"][k % 2], esc10=True, src_file=1000 + k, take="A"))
    (root / "meta").mkdir(); pd.DataFrame(rows).to_csv(root / "meta" / "esc50.csv", index=False)
    return root


def audiomnist(root):
    for spk in ("01", "02", "03", "04"):
        for d in range(3):
            for rep in range(2): wav(root / "data" / spk / f"{d}_{spk}_{rep}.wav", d + rep)
    (root / "data" / "audioMNIST_meta.txt").write_text("{}")
    return root


def speech_commands(root):
    for k, w in enumerate(("yes", "no")):
        for j, spk in enumerate(("0a1b2c3d", "1f2e3d4c", "9a8b7c6d", "5e6f7a8b")): wav(root / w / f"{spk}_nohash_0.wav", 10 * k + j)
    wav(root / "_background_noise_" / "white_noise.wav")
    (root / "validation_list.txt").write_text("yes/1f2e3d4c_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/5e6f7a8b_nohash_0.wav\nno/5e6f7a8b_nohash_0.wav\n")
    return root


def gtzan(root):
    for g in ("jazz", "rock"):
        for k in range(4): wav(root / "genres" / g / f"{g}.{k:05d}.wav", k)
    return root


def fsd50k(root):
    gt = root / "FSD50K.ground_truth"; gt.mkdir(parents=True)
    (gt / "vocabulary.csv").write_text("0,Bark,/m/05tny_\n1,Dog,/m/0bt9lr\n2,Guitar,/m/0342h\n")
    (gt / "dev.csv").write_text('fname,labels,mids,split\n64760,"Bark,Dog","/m/05tny_,/m/0bt9lr",train\n'
                                '16399,Guitar,/m/0342h,val\n21000,Dog,/m/0bt9lr,train\n')
    (gt / "eval.csv").write_text('fname,labels,mids\n37199,"Dog,Guitar","/m/0bt9lr,/m/0342h"\n')
    return root


def labels_csv(root):
    for c in ("dog", "cat"):
        for k in range(4): wav(root / c / f"{k}.wav", k)
    (root / "labels.csv").write_text("path,label\n" + "".join(f"{c}/{k}.wav,{c}\n" for c in ("dog", "cat") for k in range(4)))
    return root


def folders(root):
    for c in ("dog", "cat"):
        for k in range(4): wav(root / c / f"{k}.wav", k)
    return root


BUILD = dict(urbansound8k=urbansound8k, esc50=esc50, audiomnist=audiomnist, speech_commands=speech_commands, gtzan=gtzan,
             fsd50k=fsd50k, csv=labels_csv, folder=folders)
US8K, ESC = "metadata/UrbanSound8K.csv", "meta/esc50.csv"


def edit_csv(rel, edit):
    return lambda root: csv_lines(root / rel, edit)


def set_cell(rel, row, col, value):
    def damage(root):
        df = pd.read_csv(root / rel, dtype=str, keep_default_na=False); df.loc[row, col] = value; df.to_csv(root / rel, index=False)
    return damage


def debris(*rels, data=b"\x00\x05\x16\x07 AppleDouble"):
    def damage(root):
        for rel in rels:
            (root / rel).parent.mkdir(parents=True, exist_ok=True); (root / rel).write_bytes(data)
    return damage


def reads(n, n_debris=None, **check):
    "Correct behaviour: `n` clips, none of them debris; `check` maps a column to the values it must hold."
    def verify(t, out):
        assert len(t) == n and not any(Path(p).name.startswith("._") or "__MACOSX" in p for p in t["path"]), t["path"].tolist()
        if n_debris is not None: assert len(t.attrs["debris"]) == n_debris and f"skipped {n_debris} platform file" in out, out
        for col, want in check.items(): assert sorted(set(t[col])) == sorted(want)
    return verify


def move(src, dst):
    def damage(root):
        (root / dst).parent.mkdir(parents=True, exist_ok=True); (root / src).rename(root / dst)
    return damage


def chain(*damages):
    def damage(root):
        for d in damages: r = d(root)
        return r
    return damage


def at(rel):  # read another path than the dataset's root
    return lambda root: ("at", root / rel)


def rm(rel):
    def damage(root):
        p = root / rel
        if p.is_dir():
            import shutil; shutil.rmtree(p)
        else: p.unlink()
    return damage


CASES = {
    "urbansound8k": [
        ("duplicate line", edit_csv(US8K, lambda l: l + [l[1]]), (US8K, "lines [2, 14]", "read (and trained on) twice", "Delete the extra line")),
        ("one clip in two folds", edit_csv(US8K, lambda l: l + [l[1].replace(",1,3,dog_bark", ",2,3,dog_bark")]),
         (US8K, "in folds [1, 2]", "lines [2, 14]", "a clip belongs to one fold")),
        ("header pasted again", edit_csv(US8K, lambda l: l[:4] + [l[0]] + l[4:]), (US8K, "line 5 repeats the header", "Delete that line")),
        ("class outside the vocabulary", set_cell(US8K, 0, "class", "dog_barks"), (US8K, "line 2", "'dog_barks' is not one of UrbanSound8K's classes", "Restore")),
        ("class and classID disagree", set_cell(US8K, 0, "class", "siren"), (US8K, "line 2", "classID 3, which is 'dog_bark'", "restore the original")),
        ("empty class", set_cell(US8K, 2, "class", ""), (US8K, "line 4", "'class' cell is empty", "fill it in")),
        ("fold out of range", set_cell(US8K, 0, "fold", "11"), (US8K, "line 2", "fold is '11'", "from 1 to 10")),
        ("file in another fold folder", move("audio/fold1/100032-3-0-0.wav", "audio/fold2/100032-3-0-0.wav"),
         (US8K, "line 2", "fold2/ instead", "Move the file back")),
        ("metadata missing", rm("metadata"), ("UrbanSound8K.csv does not exist", "Point at the folder that holds metadata/")),
        ("header only", edit_csv(US8K, lambda l: l[:1]), (US8K, "lists no clips", "Copy the whole file again")),
    ],
    "esc50": [
        ("duplicate line", edit_csv(ESC, lambda l: l + [l[3]]), (ESC, "lines [4, 12]", "Delete the extra line")),
        ("header pasted again", edit_csv(ESC, lambda l: l + [l[0]]), (ESC, "line 12 repeats the header", "Delete that line")),
        ("category outside the vocabulary", set_cell(ESC, 1, "category", "rainn"), (ESC, "line 3", "'rainn' is not one of ESC-50's classes")),
        ("fold and file name disagree", set_cell(ESC, 0, "fold", "2"), (ESC, "line 2", "should be named <fold>-<source>-<take>-<target>.wav", "restore the original")),
        ("one target, two categories", set_cell(ESC, 1, "category", "dog") , (ESC, "target", "one target is one category")),
        ("empty category", set_cell(ESC, 4, "category", ""), (ESC, "line 6", "'category' cell is empty")),
        ("fold out of range", set_cell(ESC, 0, "fold", "six"), (ESC, "line 2", "fold is 'six'", "from 1 to 5")),
        ("zero-byte metadata", lambda r: (r / ESC).write_bytes(b""), (ESC, "is empty (0 bytes)", "Copy it again")),
        ("metadata missing", rm("meta"), ("esc50.csv does not exist", "Point at the ESC-50 folder")),
        ("missing clip", rm("audio/1-1000-A-0.wav"), (ESC, "line 2", "1-1000-A-0.wav", "Unpack the whole archive")),
    ],
    "audiomnist": [
        ("AppleDouble files", debris("data/01/._0_01_0.wav", "data/02/.DS_Store"), reads(24, 1)),
        ("__MACOSX and checkpoints folders", debris("data/__MACOSX/01/._0_01_0.wav", "data/.ipynb_checkpoints/x.wav"), reads(24, 2)),
        ("a folder that is not a speaker", debris("data/backup/0_01_0.wav"), ("data/backup is not a speaker folder", "Move that folder out")),
        ("a copy of a clip", lambda r: wav(r / "data" / "01" / "0_01_0 (1).wav"), ("0_01_0 (1).wav", "should be named", "delete it")),
        ("one speaker", chain(rm("data/02"), rm("data/03"), rm("data/04")), ("one speaker (01)", "needs at least two")),
        ("data/ itself given", at("data"), ("is AudioMNIST's data/ folder", "speakers would be classes", "Point at the folder above it")),
    ],
    "speech_commands": [
        ("no list files", chain(rm("validation_list.txt"), rm("testing_list.txt")),
         ("validation_list.txt does not exist", "speech_commands_v0.02.tar.gz", "test_fraction=0.2", "does not draw a random split")),
        ("empty testing list", lambda r: (r / "testing_list.txt").write_text("\n"), ("testing_list.txt is empty", "Copy it again")),
        ("a clip in both lists", lambda r: (r / "validation_list.txt").write_text("no/5e6f7a8b_nohash_0.wav\n"),
         ("no/5e6f7a8b_nohash_0.wav is listed twice", "validation_list.txt line 1", "testing_list.txt line 2", "one split only")),
        ("a line twice", edit_csv("testing_list.txt", lambda l: l + l[:1]), ("testing_list.txt line 1", "testing_list.txt line 3", "listed twice")),
        ("absolute entry", lambda r: (r / "testing_list.txt").write_text("C:\\sc\\yes\\5e6f7a8b_nohash_0.wav\n"),
         ("testing_list.txt line 1", "is not <word>/<file>.wav", "written with '/'")),
        ("listed clip missing", rm("no/5e6f7a8b_nohash_0.wav"), ("no/5e6f7a8b_nohash_0.wav (testing_list.txt line 2)", "Unpack the whole archive")),
        ("Windows separators in a list", lambda r: (r / "testing_list.txt").write_text("yes\\5e6f7a8b_nohash_0.wav\nno\\5e6f7a8b_nohash_0.wav\n"),
         reads(8, split=["train", "val", "test"])),
        ("platform debris", debris("yes/._0a1b2c3d_nohash_0.wav", "__MACOSX/yes/._x.wav", ".DS_Store"), reads(8, 2)),
    ],
    "gtzan": [
        ("AppleDouble files", debris("genres/jazz/._jazz.00000.wav", "genres/rock/.DS_Store"), reads(8, 1)),
        ("checkpoints folder", debris("genres/.ipynb_checkpoints/jazz.00000-checkpoint.wav"), reads(8, 1)),
        ("a clip in two formats", lambda r: (r / "genres/jazz/jazz.00001.au").write_bytes(b".snd"),
         ("genres/jazz holds clip jazz.00001 twice", "jazz.00001.au", "delete the .au or the .wav copies")),
        ("two copies of the dataset", lambda r: (r / "genres_original" / "jazz").mkdir(parents=True), ("both genres/ and genres_original/", "Move one")),
        ("a folder outside the genres", lambda r: wav(r / "genres" / "Jazz copy" / "jazz.00000.wav"), ("Jazz copy is not one of GTZAN's ten genre folders", "Rename it")),
        ("a clip in another genre's folder", move("genres/rock/rock.00000.wav", "genres/jazz/rock.00000.wav"),
         ("jazz/rock.00000.wav should be named jazz.000NN.wav", "Move it to its genre's folder")),
        ("Kaggle's Data/ folder above", lambda r: ((r / "Data").mkdir(), (r / "genres").rename(r / "Data" / "genres_original")),
         ("holds GTZAN one level down", "point at", "Data, which holds genres_original/")),
    ],
    "fsd50k": [
        ("vocabulary with a header", lambda r: csv_lines(r / "FSD50K.ground_truth/vocabulary.csv", lambda l: ["index,label,mid"] + l),
         ("vocabulary.csv line 1", "is a header line", "shift every index", "Delete that line")),
        ("vocabulary with a gap", lambda r: csv_lines(r / "FSD50K.ground_truth/vocabulary.csv", lambda l: l[:1] + l[2:]),
         ("vocabulary.csv line 2", "index 2, expected 1", "Restore the original file")),
        ("label outside the vocabulary", set_cell("FSD50K.ground_truth/dev.csv", 1, "labels", "Guitarr"),
         ("dev.csv line 3", "label 'Guitarr' is not in vocabulary.csv", "Correct the label")),
        ("duplicate line", edit_csv("FSD50K.ground_truth/dev.csv", lambda l: l + [l[1]]), ("dev.csv", "lists '64760' 2 times (lines [2, 5]", "Delete the extra line")),
        ("header pasted again", edit_csv("FSD50K.ground_truth/dev.csv", lambda l: l + [l[0]]), ("dev.csv line 5 repeats the header", "Delete that line")),
        ("empty labels", set_cell("FSD50K.ground_truth/dev.csv", 2, "labels", ""), ("dev.csv line 4", "'labels' cell is empty")),
        ("unknown split", set_cell("FSD50K.ground_truth/dev.csv", 1, "split", "test"), ("dev.csv line 3", "split 'test'")),
        ("no vocabulary, a case typo", chain(rm("FSD50K.ground_truth/vocabulary.csv"), set_cell("FSD50K.ground_truth/dev.csv", 2, "labels", "dog")),
         ("classes ['Dog', 'dog'] differ only in case", "dev.csv line 2", "Spell them alike")),
    ],
    "csv": [
        ("Windows separators, files there", edit_csv("labels.csv", lambda l: [x.replace("/", "\\") for x in l]), reads(8, label=["cat", "dog"])),
        ("Windows separators, files not there", edit_csv("labels.csv", lambda l: l[:1] + ["animals\\dog\\0.wav,dog"] + l[2:]),
         ("labels.csv are not found", "line 2", "Windows separators", "animals/dog/0.wav", "relative to the CSV's folder", "written with '/'")),
        ("Windows absolute paths", edit_csv("labels.csv", lambda l: l[:1] + ["C:\\Users\\me\\csv\\dog\\0.wav,dog"] + l[2:]),
         ("line 2", "is a Windows absolute path", "write 'dog/0.wav'")),
        ("paths from the shell's folder", edit_csv("labels.csv", lambda l: l[:1] + ["csv/dog/0.wav,dog"] + l[2:]),
         ("line 2", "exists from the current folder", "write 'dog/0.wav'", "relative to the CSV's folder")),
        ("empty label", edit_csv("labels.csv", lambda l: l[:3] + ["dog/2.wav,"] + l[4:]), ("labels.csv line 4", "'label' cell is empty", "fill it in")),
        ("duplicate line", edit_csv("labels.csv", lambda l: l + [l[1]]), ("labels.csv lists", "lines [2, 10]", "Delete the extra line")),
        ("a file in two folds", edit_csv("labels.csv", lambda l: ["path,label,fold"] + [x + f",{1 + k % 2}" for k, x in enumerate(l[1:])] + [l[1] + ",2"]),
         ("labels.csv lists", "in folds [1, 2]", "lines [2, 10]")),
        ("header pasted again", edit_csv("labels.csv", lambda l: l + [l[0]]), ("labels.csv line 10 repeats the header", "Delete that line")),
        ("AppleDouble file listed", edit_csv("labels.csv", lambda l: l + ["dog/._0.wav,dog"]), ("labels.csv line 10", "is platform debris", "Delete them")),
        ("a class typo", edit_csv("labels.csv", lambda l: l[:2] + ["dog/1.wav,Dog "] + l[3:]),
         ("classes", "differ only in case", "labels.csv line 3", "Spell them alike")),
        ("header only", edit_csv("labels.csv", lambda l: l[:1]), ("labels.csv lists no clips",)),
        ("unknown split", edit_csv("labels.csv", lambda l: ["path,label,split"] + [x + ",train" for x in l[1:4]] + [x + ",tset" for x in l[4:]]),
         ("labels.csv line 5", "split 'tset' is not known", "use train, val or test")),
    ],
    "folder": [
        ("AppleDouble and browser files", debris("dog/._0.wav", "cat/Thumbs.db", "desktop.ini", ".DS_Store"), reads(8, 1, label=["cat", "dog"])),
        ("__MACOSX beside the classes", debris("__MACOSX/dog/._0.wav"), reads(8, 1, label=["cat", "dog"])),
        ("train/ without test/", lambda r: (r / "dog").rename(r / "train"), ("holds train/ but no test/", "Add test/<class>/ folders")),
        ("a test class not in train", chain(lambda r: (r / "train").mkdir(), move("dog", "train/dog"), move("cat", "test/cat"), lambda r: wav(r / "test" / "dog" / "9.wav")),
         ("has class folder(s) ['cat']", "lacks", "Rename it")),
        ("one folder too high", lambda r: (r.rename(r.parent / "inner"), r.mkdir(), (r.parent / "inner").rename(r / "animals")),
         ("has one class folder with audio, animals/", "point at")),
        ("classes differing in case", lambda r: wav(r / "Dog" / "9.wav"), ("classes", "differ only in case", "folder Dog/", "Spell them alike")),
    ],
}
assert set(CASES) == set(BUILD) and all(len(c) >= 5 for c in CASES.values())
PARAMS = [pytest.param(reader, damage, expect, id=f"{reader}: {fault}") for reader, cases in CASES.items() for fault, damage, expect in cases]


def read(reader, target):
    if reader == "fsd50k": return read_fsd50k(target)
    return read_layout(target, split="random") if reader == "gtzan" else read_layout(target)   # a fixture holds a few GTZAN clips


@pytest.mark.parametrize("reader,damage,expect", PARAMS)
def test_damaged_copy(tmp_path, monkeypatch, capsys, reader, damage, expect):
    monkeypatch.chdir(tmp_path)
    root = BUILD[reader](tmp_path / reader)
    target = damage(root)
    target = target[1] if isinstance(target, tuple) and target[:1] == ("at",) else root
    if isinstance(expect, tuple):
        with pytest.raises(LabkitError) as e: read(reader, target)
        msg = str(e.value)
        for part in expect: assert part in msg, f"{part!r} not in: {msg}"
    else:
        t = read(reader, target)
        expect(t[0] if reader == "fsd50k" else t, capsys.readouterr().out)


def test_classes_without_a_vocabulary_are_printed_with_counts(tmp_path, capsys):
    root = labels_csv(tmp_path / "csv")
    csv_lines(root / "labels.csv", lambda l: l[:2] + ["dog/1.wav,dgo", "dog/2.wav,dgo"] + l[4:])
    t = read_layout(root)
    assert sorted(set(t["label"])) == ["cat", "dgo", "dog"]
    out = capsys.readouterr().out
    assert "labels.csv: 3 classes, clips each: cat 4, " in out and "dgo 2" in out and "dog 2" in out
    root = fsd50k(tmp_path / "fsd"); (root / "FSD50K.ground_truth" / "vocabulary.csv").unlink()
    _, classes = read_fsd50k(root)
    assert classes == ["Bark", "Dog", "Guitar"] and "3 classes, clips each: Dog 2, Bark 1, Guitar 1" in capsys.readouterr().out


def test_no_silent_fallback_to_class_folders(tmp_path):
    "A part of a known layout is that layout (and refused as incomplete), never read as class folders with a random split."
    sc = speech_commands(tmp_path / "sc"); (sc / "testing_list.txt").unlink(); (sc / "validation_list.txt").unlink()
    us = urbansound8k(tmp_path / "us"); (us / "metadata" / "UrbanSound8K.csv").unlink()
    es = esc50(tmp_path / "es"); (es / "meta" / "esc50.csv").unlink()
    assert [detect_layout(p) for p in (sc, us, es)] == ["speech_commands", "urbansound8k", "esc50"]
    t = read_layout(sc, test_fraction=0.5)                     # asked for: a split by speaker
    assert all(g["split"].nunique() == 1 for _, g in t.groupby("group"))


def test_gtzan_reads_the_fault_filtered_split_by_default(tmp_path, capsys):
    lists = gtzan_filtered()
    assert len(lists) == 930 and {s: list(lists.values()).count(s) for s in ("train", "val", "test")} == {"train": 443, "val": 197, "test": 290}
    root = tmp_path / "GTZAN"
    for g in ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"):
        (root / "genres" / g).mkdir(parents=True)
        for k in range(100): sf.write(root / "genres" / g / f"{g}.{k:05d}.wav", np.zeros(80, np.float32), SR)
    t = read_layout(root)
    assert len(t) == 930 and dict(zip((Path(p).stem for p in t["path"]), t["split"])) == lists
    assert len(t.attrs["left_out"]) == 70 and not set(t.attrs["left_out"]) & set(lists)
    assert "fault-filtered split (Kereliuk, Sturm & Larsen 2015): 443 train, 197 val, 290 test clips; 70 clips left out" in capsys.readouterr().out
    assert len(read_gtzan(root, split="random")) == 1000                    # asked for: every clip, a random split
    (root / "genres" / "blues" / "blues.00012.wav").unlink()                # a clip of the lists missing: refused, not shrunk
    with pytest.raises(LabkitError, match="1 of the 930 clips of GTZAN's fault-filtered split are missing .*blues.00012.*split='random'"):
        read_gtzan(root)


def test_urbansound8k_and_esc50_official_folds(tmp_path):
    t = read_layout(urbansound8k(tmp_path / "UrbanSound8K"))
    folds = fold_protocol(t)
    assert sorted(folds) == [1, 2, 3, 10]
    for k, f in folds.items(): assert set(f.loc[f["split"] == "test", "fold"]) == {k} and set(f.loc[f["split"] == "train", "fold"]) == set(folds) - {k}
    assert sorted(fold_protocol(read_layout(esc50(tmp_path / "ESC-50")))) == [1, 2, 3, 4, 5]
    with pytest.raises(LabkitError, match="needs the dataset's official folds"): fold_protocol(t.assign(fold=1))


def pooled_baseline(table):
    "A cheap per-fold experiment: each clip's spectrum pooled over frames, the linear baseline trained on train, scored on test."
    from labkit.data import pool_frames
    from labkit.metrics import linear_baseline
    def feats(paths):
        x = [np.abs(np.fft.rfft(sf.read(p)[0][: SR // 10].reshape(-1, 80), axis=1)) for p in paths]
        return np.stack([pool_frames(np.log1p(f)) for f in x])
    classes = sorted(table["label"].unique())
    tr, te = table[table["split"] == "train"], table[table["split"] == "test"]
    return linear_baseline(feats(tr["path"]), feats(te["path"]), tr["label"].map(classes.index).to_numpy(), te["label"].map(classes.index).to_numpy())


def test_official_folds_are_run_and_reported_with_mean_and_sd(tmp_path, capsys):
    from concurrent.futures import ThreadPoolExecutor
    from labkit.studies import run_folds
    folds = fold_protocol(read_layout(urbansound8k(tmp_path / "UrbanSound8K")))
    r = run_folds(pooled_baseline, folds, name="UrbanSound8K, pooled baseline")
    assert list(r.index) == [1, 2, 3, 10] and {"accuracy", "macro_f1"} <= set(r.columns)
    assert r.attrs["mean"]["accuracy"] == pytest.approx(r["accuracy"].mean()) and r.attrs["sd"]["accuracy"] == pytest.approx(r["accuracy"].std(ddof=1))
    out = capsys.readouterr().out
    assert f"UrbanSound8K, pooled baseline over 4 official folds (mean ± sd across folds): accuracy {r['accuracy'].mean():.3f} ± {r['accuracy'].std():.3f}" in out
    with ThreadPoolExecutor(2) as pool: assert run_folds(pooled_baseline, folds, executor=pool).equals(r)   # an executor takes the folds
    esc = run_folds(pooled_baseline, fold_protocol(read_layout(esc50(tmp_path / "ESC-50"))))
    assert list(esc.index) == [1, 2, 3, 4, 5]
    with pytest.raises(LabkitError, match="a number or a dict of numbers"): run_folds(lambda t: None, folds)


def test_gtzan_filtered_and_random_splits_side_by_side(tmp_path, capsys):
    from labkit.studies import compare_splits
    root = tmp_path / "GTZAN"
    for g in ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"):
        (root / "genres" / g).mkdir(parents=True)
        for k in range(100): sf.write(root / "genres" / g / f"{g}.{k:05d}.wav", np.zeros(80, np.float32), SR)
    test_clips = lambda t: {"test_clips": int((t["split"] == "test").sum())}
    s = compare_splits(test_clips, {"filtered": read_gtzan(root), "random": read_gtzan(root, split="random")}, name="GTZAN")
    assert s.loc["test_clips"].to_dict() == {"filtered": 290, "random": 200}
    out = capsys.readouterr().out
    assert "GTZAN, side by side:" in out and "filtered  random" in out and "the filtered number is the one to report" in out
