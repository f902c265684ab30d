"""Tags of the embedded corpus are what the generator really played (a muted part changes the audio exactly when its
tag is on); FSD50K's ground-truth layout is read from fixtures built here; the tag file round-trips."""
import contextlib
import numpy as np
import pandas as pd
import pytest

import labkit.synth.music as synth
import labkit.synth.corpus as corpus
from labkit.core import LabkitError
from labkit.synth import TAGS, clip_tags, corpus_tags
from labkit.metrics import multi_hot
from labkit.data import read_fsd50k, read_tags, write_tags

PART_TAGS = {"kick": "kick", "snare": "snare", "hat": "hihat", "ride": "ride", "bass": "bass", "lead": "lead",
             "comp": ("pad", "strum", "arpeggio", "power_chords", "stabs")}


@contextlib.contextmanager
def muted(part):
    "Render with one part silent while the random stream stays the same (drum sounds zeroed, note velocities 0)."
    add, kit = synth._add_note, synth._drum_kit
    def add_note(out, p, cache, start, dur, midi, vel, sr, pluck, attack=0.01, decay=0.4):
        kind = "bass" if vel == 0.8 else "lead" if vel == 0.5 else "comp"   # the generator's velocities per part
        return add(out, p, cache, start, dur, midi, 0.0 if kind == part else vel, sr, pluck, attack, decay)
    def drum_kit(rng, sr): return {k: v * (k != part) for k, v in kit(rng, sr).items()}
    synth._add_note, synth._drum_kit = add_note, drum_kit
    try: yield
    finally: synth._add_note, synth._drum_kit = add, kit


def render(job, part=None):
    rng = np.random.default_rng(job["seed"])
    p = synth.sample_params(job["genre"], rng)
    with muted(part) if part else contextlib.nullcontext():
        return synth.render_clip(p, job["seconds"], rng), p


def test_each_tagged_part_is_audible_and_untagged_parts_are_silent():
    jobs = corpus.plan_corpus("tiny")
    seen = {}
    for job in jobs[::20][:5]:                                   # five clips of different genres
        y, p = render(job)
        tags = set(clip_tags(p))
        for part, tag in PART_TAGS.items():
            on = bool(tags & set(tag if isinstance(tag, tuple) else (tag,)))
            change = np.sqrt(np.mean((render(job, part)[0] - y) ** 2)) / np.sqrt(np.mean(y ** 2))
            assert (change > 0.1) if on else (change == 0), (job["genre"], part, on, change)
            seen[on] = seen.get(on, 0) + 1
    assert seen.get(True, 0) > 5 and seen.get(False, 0) > 5     # both cases were exercised


def test_corpus_tag_file_is_cached_and_readable():
    root = corpus.make_corpus("tiny", progress=False)
    path = corpus_tags(root)
    assert path.name.startswith("tiny-seed0") and corpus_tags(root) == path
    table = read_tags(path)
    clips = pd.read_csv(root / "audio" / "clips.csv", dtype={"id": str}).set_index("id")
    assert list(table.index) == list(clips.index)
    assert table.loc[clips.index[0], "labels"] == clip_tags(clips.iloc[0].to_dict())
    Y = multi_hot(table["labels"], TAGS)
    assert Y.shape == (120, len(TAGS)) and Y.sum(1).min() >= 1


def fsd50k(tmp_path, dev_header="fname,labels,mids,split"):
    gt = tmp_path / "FSD50K.ground_truth"
    gt.mkdir()
    (gt / "vocabulary.csv").write_text("0,Bark,/m/05tny_\n1,Dog,/m/0bt9lr\n2,Guitar,/m/0342h\n")
    (gt / "dev.csv").write_text(f'{dev_header}\n64760,"Bark,Dog","/m/05tny_,/m/0bt9lr",train\n'
                                '16399,Guitar,/m/0342h,val\n')
    (gt / "eval.csv").write_text('fname,labels,mids\n37199,"Dog,Guitar","/m/0bt9lr,/m/0342h"\n')
    return tmp_path


def test_fsd50k_layout(tmp_path):
    root = fsd50k(tmp_path)
    dev, classes = read_fsd50k(root, "dev")
    assert classes == ["Bark", "Dog", "Guitar"]
    assert dev.loc["64760", "labels"] == ["Bark", "Dog"] and list(dev["split"]) == ["train", "val"]
    ev, _ = read_fsd50k(root, "eval")
    assert ev.loc["37199", "labels"] == ["Dog", "Guitar"] and set(ev["split"]) == {"eval"}
    assert multi_hot(ev["labels"], classes).tolist() == [[0, 1, 1]]


def test_fsd50k_errors_name_the_problem(tmp_path):
    with pytest.raises(LabkitError, match="FSD50K.ground_truth does not exist"):
        read_fsd50k(tmp_path)
    root = fsd50k(tmp_path, dev_header="fname,labels,mids")
    (root / "FSD50K.ground_truth" / "dev.csv").write_text('fname,labels,mids\n1,Bark,/m/05tny_\n')
    with pytest.raises(LabkitError, match="no 'split' column"):
        read_fsd50k(root)
    (root / "FSD50K.ground_truth" / "dev.csv").write_text('fname,labels,mids,split\n1,Cat,/m/01yrx,train\n')
    with pytest.raises(LabkitError, match="not in vocabulary.csv"):
        read_fsd50k(root)


def test_write_read_round_trip_and_duplicates(tmp_path):
    path = write_tags(tmp_path / "t.csv", ["1", "2"], [["kick", "bass"], []], ["train", "test"])
    t = read_tags(path)
    assert t["labels"].tolist() == [["kick", "bass"], []] and t["split"].tolist() == ["train", "test"]
    assert not list(tmp_path.glob(".t.csv.tmp*"))                # the temporary file is gone
    write_tags(path, ["1", "1"], [["kick"], ["bass"]])
    with pytest.raises(LabkitError, match="twice"):
        read_tags(path)
