"Plots return their figure, draw what they say, never call plt.show(), and reject bad input with a LabkitError."
import json

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from labkit.core import LabkitError
from labkit.data import CLASS_MAPPING, N_CHROMA, N_FUSED, N_MELS, SpectrogramDataset
from labkit import viz

CLASSES = sorted({c for c in CLASS_MAPPING.values() if c})


@pytest.fixture(autouse=True)
def no_show_and_close(monkeypatch):
    "Fail on plt.show(); close every figure a test leaves open."
    def show(*a, **k): raise AssertionError("plot functions must not call plt.show()")
    monkeypatch.setattr(plt, "show", show)
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fused():
    rng = np.random.default_rng(0)
    return np.hstack([rng.uniform(-80, 0, (200, N_MELS)), rng.uniform(0, 1, (200, N_CHROMA))]).astype(np.float32)


class ToImage(nn.Module):
    def forward(self, x): return x.transpose(1, 2).unsqueeze(1)  # (B, T, F) -> (B, 1, F, T)


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(ToImage(), nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1))


def test_orientation(fused):
    test = viz.to_feature_time
    assert test(fused).shape == (N_FUSED, 200)
    assert test(fused.T, layout="FT").shape == (N_FUSED, 200)
    np.testing.assert_array_equal(test(torch.from_numpy(fused)), fused.T)
    with pytest.raises(LabkitError, match="2-D"): test(fused[None])
    with pytest.raises(LabkitError, match="layout"): test(fused, layout="ft")


def test_mel_time_axis_in_seconds(fused):
    fig = viz.plot_mel(fused[:, :N_MELS], title="x")
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    assert ax.get_xlim()[1] == pytest.approx(200 * 512 / 22050, abs=0.05)
    assert "mel" in ax.get_ylabel() and ax.get_xlabel() == "Time (s)"
    assert len(fig.axes) == 2  # colorbar
    # the same data in the on-disk layout draws the same image
    fig2 = viz.plot_mel(fused[:, :N_MELS].T, layout="FT")
    np.testing.assert_array_equal(ax.collections[0].get_array(), fig2.axes[0].collections[0].get_array())


def test_chroma_and_track(fused):
    fig = viz.plot_chroma(fused[:, N_MELS:])
    fig.canvas.draw()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][:2] == ["C", "C♯"]
    with pytest.raises(LabkitError, match="12 pitch-class rows"): viz.plot_chroma(fused)
    fig = viz.plot_track(fused, title="t")
    assert [a.get_title() for a in fig.axes[:2]] == ["Mel spectrogram", "Chromagram"]
    assert len(viz.plot_track(fused[:, :N_MELS]).axes) == 2  # mel only: one panel + colorbar


def test_full_vs_beat(fused):
    fig = viz.plot_full_vs_beat(fused, fused[:20])
    titles = [a.get_title() for a in fig.axes]
    assert "Mel spectrogram: full, 200 frames" in titles and "Chromagram: beat-synced, 20 beats" in titles
    assert fig.axes[1].get_xlabel().startswith("Beat")
    assert len(viz.plot_full_vs_beat(fused[:, :N_MELS], fused[:20, :N_MELS]).axes) == 3  # 2 panels + colorbar
    with pytest.raises(LabkitError, match="same feature type"): viz.plot_full_vs_beat(fused, fused[:20, :N_MELS])


def test_class_histograms():
    raw = ["Rock", "Psych-Rock", "Post-Rock", "Indie-Rock", "Punk", "Jazz", "Jazz"]
    left, right = viz.plot_class_histograms(raw).axes
    counts = {t.get_text(): p.get_width() for t, p in zip(right.get_yticklabels(), right.patches)}
    assert counts["Rock"] == 3 and counts["Metal"] == 1 and counts["Jazz"] == 2 and counts["Blues"] == 0
    assert "1 dropped" in right.get_title()
    hatched = {t.get_text() for t, p in zip(left.get_yticklabels(), left.patches) if p.get_hatch()}
    assert hatched == {"Indie-Rock"}
    with pytest.raises(LabkitError, match="Disco"): viz.plot_class_histograms(["Disco"])


def history():
    return [dict(epoch=e, train_loss=1 / e, val_loss=0.5 + (e - 3) ** 2 / 20, train_accuracy=0.1 * e,
                 val_accuracy=0.08 * e, val_spearman=0.05 * e, lr=1e-4) for e in range(1, 7)]


@pytest.mark.parametrize("kind", ["list", "frame", "csv", "json"])
def test_learning_curves_inputs(kind, tmp_path):
    h = history()
    if kind == "frame": h = pd.DataFrame(h)
    elif kind == "csv": pd.DataFrame(h).to_csv(tmp_path / "history.csv", index=False); h = tmp_path / "history.csv"
    elif kind == "json": (tmp_path / "history.json").write_text(json.dumps(h)); h = str(tmp_path / "history.json")
    loss_ax, metric_ax = viz.plot_learning_curves(h).axes
    assert [l.get_label() for l in loss_ax.get_lines()[:2]] == ["train", "validation"]
    assert "best epoch 3" in loss_ax.texts[0].get_text()
    labels = [l.get_label() for l in metric_ax.get_lines()]
    assert labels == ["train accuracy", "validation accuracy", "validation spearman"]  # lr is not a metric


def test_learning_curves_choices_and_errors(tmp_path):
    fig = viz.plot_learning_curves(history(), metrics=["spearman"])
    assert [l.get_label() for l in fig.axes[1].get_lines()] == ["validation spearman"]
    assert len(viz.plot_learning_curves([dict(train_loss=1.0), dict(train_loss=0.5)]).axes) == 1  # no epoch, no val
    with pytest.raises(LabkitError, match="train_loss"): viz.plot_learning_curves([dict(epoch=1, acc=1)])
    with pytest.raises(LabkitError, match="empty"): viz.plot_learning_curves([])
    with pytest.raises(LabkitError, match="does not exist"): viz.plot_learning_curves(tmp_path / "nope.csv")
    with pytest.raises(LabkitError, match="'f1'"): viz.plot_learning_curves(history(), metrics=["f1"])


def test_confusion_matrix():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 9])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2, 9])
    fig = viz.plot_confusion_matrix(y_true, y_pred, classes=CLASSES, normalize="true")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES  # unseen classes still get a row and column
    m = ax.images[0].get_array()
    assert m.shape == (10, 10) and m[0, 0] == pytest.approx(0.5) and m[2, 2] == pytest.approx(2 / 3)
    counts = viz.plot_confusion_matrix(y_true, y_pred, classes=CLASSES).axes[0].images[0].get_array()
    assert counts.sum() == len(y_true)
    names = viz.plot_confusion_matrix(["Rock", "Metal"], ["Metal", "Metal"], classes=["Metal", "Rock"])
    assert names.axes[0].images[0].get_array()[1, 0] == 1
    with pytest.raises(LabkitError, match="normalize"): viz.plot_confusion_matrix(y_true, y_pred, normalize="rows")
    with pytest.raises(LabkitError, match="one prediction"): viz.plot_confusion_matrix(y_true, y_pred[:3])


def test_filters_and_activations(fused):
    model = small_cnn().train()
    assert viz.first_conv(model) is model[1]
    fig = viz.plot_conv_filters(model)
    assert sum(len(a.images) for a in fig.axes) == 6
    assert "(3, 3)" in fig.get_suptitle()
    acts = viz.conv_activations(model, fused[:50], layers=["1", model[3]])
    assert acts["1"].shape == (1, 6, N_FUSED, 50) and acts["3"].shape == (1, 4, N_FUSED, 50)
    assert not model[1]._forward_hooks and not model[3]._forward_hooks  # hooks removed
    assert model.training  # mode restored
    fig = viz.plot_activations(model, fused[:50], max_maps=4)
    assert fig.axes[0].get_title() == "Input" and sum(len(a.images) for a in fig.axes[2:]) == 4
    with pytest.raises(LabkitError, match="no nn.Conv2d"): viz.first_conv(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(LabkitError, match="no layer named"): viz.conv_activations(model, fused[:50], layers=["9"])


def test_filters_on_labkit_cnn(fused):
    models = pytest.importorskip("labkit.models")
    model = models.create_model("cnn", n_classes=10)
    assert viz.first_conv(model).in_channels == 1
    fig = viz.plot_activations(model, fused[:64, :N_MELS], max_maps=4)  # labkit CNN: (T, F) in, (C, F, T) maps
    assert fig.axes[2].images[0].get_array().shape == (N_MELS, 64)
    viz.plot_conv_filters(model, max_filters=8)


@pytest.mark.slow  # t-SNE, several times
def test_tsne_seeded_and_small_sets():
    rng = np.random.default_rng(0)
    emb, labels = rng.normal(size=(12, 8)), np.repeat([0, 1, 2], 4)
    np.testing.assert_array_equal(viz.tsne_2d(emb, seed=1), viz.tsne_2d(emb, seed=1))
    assert viz.tsne_2d(emb[:5]).shape == (5, 2)  # perplexity 30 clipped for 5 points
    fig = viz.plot_tsne(torch.from_numpy(emb), torch.from_numpy(labels), classes=CLASSES)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["Blues (4)", "Classical (4)", "Electronic (4)"]
    assert len(viz.plot_tsne(emb, np.array(list("aabbccddeeff"))).axes[0].collections) == 6
    with pytest.raises(LabkitError, match="one label per embedding"): viz.plot_tsne(emb, labels[:3])
    with pytest.raises(LabkitError, match="N >= 4"): viz.tsne_2d(emb[:3])
    with pytest.raises(LabkitError, match="NaN"): viz.tsne_2d(np.full((6, 2), np.nan))


def test_explorer_follows_widgets(lab_root):
    ds = SpectrogramDataset(lab_root, max_length="max", verbose=False)  # padded items: the explorer trims them
    beat = SpectrogramDataset(lab_root, beat=True, verbose=False)
    ex = viz.SpectrogramExplorer(ds, beat_dataset=beat)
    assert ex.feature.options == ("fused", "mel", "chroma") and not ex.timing.disabled
    first = ex.figure
    assert f"Track {ds.ids[0]} ({ds.classes[int(ds[0][1])]})" in first.get_suptitle()
    ex.track.value = 3
    assert ex.figure is not first and f"Track {ds.ids[3]}" in ex.figure.get_suptitle()
    true_t = int(ds.lengths[3])
    assert ex.figure.axes[0].get_xlim()[1] == pytest.approx(true_t * 512 / 22050, abs=0.05)
    assert f"{true_t} frames" in ex.info.value
    ex.feature.value = "mel"
    assert len(ex.figure.axes) == 2 and ex.figure.get_suptitle().endswith(": mel")
    ex.timing.value = "beat-synced"
    k = beat.ids.index(ds.ids[3])
    assert ex.figure.axes[0].get_xlabel().startswith("Beat") and f"{int(beat.lengths[k])} beats" in ex.info.value
    import ipywidgets
    assert isinstance(ex.widget, ipywidgets.VBox)


def test_explorer_single_feature_and_errors(lab_root):
    chroma = SpectrogramDataset(lab_root, feature="chroma", verbose=False)
    ex = viz.SpectrogramExplorer(chroma, index=1)
    assert ex.feature.options == ("chroma",) and ex.timing.disabled
    assert ex.figure.axes[0].get_ylabel() == "Pitch class"
    test = SpectrogramDataset(lab_root, task="multitask", split="test", verbose=False)  # unlabelled
    assert "unlabelled" in viz.SpectrogramExplorer(test).info.value
    with pytest.raises(LabkitError, match="empty"): viz.SpectrogramExplorer([])
