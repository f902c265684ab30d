"Transfer: strict checkpoint loading that names what does not fit, freezing that holds through fine-tuning."
import pytest, torch
from torch import nn
from torch.utils.data import DataLoader
from labkit.core import LabkitError
from labkit.data import PadCollate
from labkit.models import CNNBackbone, Classifier, LSTMBackbone, Regressor
from labkit.train import fit, seed_everything
from labkit.train import conv_layers, freeze, param_counts, param_groups, unfreeze
from labkit.models import load_backbone, read_state_dict


def small_cnn(head=Regressor, channels=(4, 8), **kw):
    return head(CNNBackbone(in_chans=1, channels=channels), **kw)


def batches(n=12, T=24, F=20, n_targets=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, T, F, generator=g), torch.randn(n, n_targets, generator=g)
    items = [(x[i], y[i], T) for i in range(n)]
    return DataLoader(items, batch_size=4, shuffle=False, collate_fn=PadCollate())


def params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@pytest.fixture
def genre_checkpoint(tmp_path):
    seed_everything(0)
    model = small_cnn(Classifier, n_classes=5)
    path = tmp_path / "genre.pt"
    torch.save({"model": model.state_dict(), "epoch": 3}, path)
    return model, path


def test_frozen_backbone_unchanged_after_fine_tuning_while_head_changes(genre_checkpoint):
    source, path = genre_checkpoint
    model = freeze(load_backbone(small_cnn(n_targets=1), path))
    before = params(model)
    fit(model, batches(), loss_fn=nn.MSELoss(), epochs=2, lr=1e-2, progress=False, device="cpu")
    after = params(model)
    for k in before:
        if k.startswith("backbone."): assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["head.weight"], after["head.weight"])
    for k, v in source.backbone.named_parameters(): assert torch.equal(after["backbone." + k], v.detach())


def test_frozen_batchnorm_keeps_the_source_statistics_and_unfreeze_releases_it(genre_checkpoint):
    _, path = genre_checkpoint
    model = freeze(load_backbone(small_cnn(n_targets=1), path))
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    fit(model, batches(), loss_fn=nn.MSELoss(), epochs=2, lr=1e-2, progress=False, device="cpu")
    for k, v in model.backbone.state_dict().items(): assert torch.equal(before[k], v), k  # buffers too
    unfreeze(model)
    fit(model, batches(), loss_fn=nn.MSELoss(), epochs=1, lr=1e-2, progress=False, device="cpu")
    changed = [k for k, v in model.backbone.state_dict().items() if "running_mean" in k and not torch.equal(before[k], v)]
    assert changed, "unfrozen BatchNorm layers should update their statistics again"


def test_first_n_convs_frozen_later_ones_and_head_train(genre_checkpoint):
    _, path = genre_checkpoint
    model = freeze(load_backbone(small_cnn(n_targets=1), path), n_conv=1)
    first, second = conv_layers(model)
    before = params(model)
    optimizer = torch.optim.AdamW(param_groups(model, backbone_lr=1e-2, head_lr=1e-2))
    fit(model, batches(), loss_fn=nn.MSELoss(), epochs=2, optimizer=optimizer, progress=False, device="cpu")
    after = params(model)
    assert torch.equal(before[first + ".weight"], after[first + ".weight"])
    assert torch.equal(before[first + ".bias"], after[first + ".bias"])
    assert not torch.equal(before[second + ".weight"], after[second + ".weight"])
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_freeze_by_name_and_unfreeze():
    model = small_cnn(n_targets=2)
    freeze(model, names=["backbone.features.0", "head.*"])
    frozen = {k for k, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"backbone.features.0.weight", "backbone.features.0.bias", "head.weight", "head.bias"}
    counts = param_counts(model)
    assert counts.loc["head", "trainable"] == 0 and counts.loc["total", "total"] == sum(p.numel() for p in model.parameters())
    unfreeze(model, names="head")
    assert all(p.requires_grad for p in model.head.parameters())
    unfreeze(model)
    assert param_counts(model).loc["total", "frozen"] == 0
    with pytest.raises(LabkitError, match="no parameter .* matches 'decoder'"): freeze(model, names="decoder")
    with pytest.raises(LabkitError, match="has 2 Conv2d"): freeze(model, n_conv=3)


def test_param_groups_have_their_own_learning_rates():
    model = small_cnn(n_targets=1)
    groups = param_groups(model, backbone_lr=1e-5, head_lr=1e-3)
    assert [(g["name"], g["lr"]) for g in groups] == [("backbone", 1e-5), ("head", 1e-3)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    freeze(model)
    assert [g["name"] for g in param_groups(model)] == ["head"]
    freeze(model, names="head")
    with pytest.raises(LabkitError, match="no trainable parameters"): param_groups(model)


def test_checkpoint_shape_mismatch_names_the_layers(genre_checkpoint):
    _, path = genre_checkpoint
    wider = small_cnn(channels=(4, 16), n_targets=1)
    with pytest.raises(LabkitError) as e: load_backbone(wider, path)
    msg = str(e.value)
    assert "features.4.weight: checkpoint (8, 4, 3, 3) vs model (16, 4, 3, 3)" in msg
    assert "features.0.weight" not in msg  # layers that fit are not blamed
    load_backbone(wider, path, strict=False)  # loads what fits
    torch.testing.assert_close(wider.backbone.features[0].weight, genre_checkpoint[0].backbone.features[0].weight)


def test_checkpoint_missing_and_unexpected_layers_are_named(genre_checkpoint):
    _, path = genre_checkpoint
    with pytest.raises(LabkitError) as e: load_backbone(Regressor(LSTMBackbone(input_dim=20, hidden_size=8)), path)
    msg = str(e.value)
    assert "missing from the checkpoint: lstm.weight_ih_l0" in msg and "not in the model: features.0.weight" in msg


def test_module_prefix_and_bare_backbone_checkpoints(genre_checkpoint, tmp_path):
    source, _ = genre_checkpoint
    wrapped = {"module." + k: v for k, v in source.state_dict().items()}
    torch.save({"model": wrapped}, tmp_path / "dp.pt")
    torch.save(source.backbone.state_dict(), tmp_path / "bare.pt")
    for name in ("dp.pt", "bare.pt"):
        model = load_backbone(small_cnn(n_targets=3), tmp_path / name)
        for k, v in source.backbone.state_dict().items(): assert torch.equal(model.backbone.state_dict()[k], v)
    assert not any(k.startswith("module.") for k in read_state_dict(tmp_path / "dp.pt"))


def test_unreadable_checkpoints_raise_labkit_errors(tmp_path):
    with pytest.raises(LabkitError, match="does not exist"): read_state_dict(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(LabkitError, match="could not be read"): read_state_dict(tmp_path / "junk.pt")
    torch.save({"model": {"w": torch.zeros(1)}, "note": "x"}, tmp_path / "ok.pt")
    assert list(read_state_dict(tmp_path / "ok.pt")) == ["w"]
    with pytest.raises(LabkitError, match="holds no weights"): read_state_dict({"epoch": 3, "lr": 0.1})
