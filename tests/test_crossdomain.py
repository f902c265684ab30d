"Cross-domain: EfficientNet-B0 as a labkit backbone, ImageNet stem adaptation, freezing by count and by block, cached runs."
import numpy as np, pytest, torch, torchvision
from torch import nn

from labkit.core import LabkitError
from labkit.models import STEM, adapt_imagenet_state, load_imagenet
from labkit.studies import conv_table, run_key, run_one, subset
from labkit.train import freeze_blocks
from labkit.models import create_model
from labkit.train import fit
from labkit.train import freeze


def test_imagenet_checkpoint_file_sums_the_stem(tmp_path):
    rgb = torchvision.models.efficientnet_b0(weights=None)
    path = tmp_path / "efficientnet_b0_rwightman.pth"
    torch.save(rgb.state_dict(), path)                        # the layout of torchvision's file, made here (no download)
    model = load_imagenet(create_model("efficientnet_b0", n_classes=3), path)
    assert torch.equal(model.backbone.features[0][0].weight, rgb.state_dict()[STEM].sum(1, keepdim=True))
    assert torch.equal(model.backbone.features[8][0].weight, rgb.features[8][0].weight)
    assert "classifier.1.weight" not in adapt_imagenet_state(rgb.state_dict())
    bad = {k: v for k, v in rgb.state_dict().items() if not k.startswith("features.8")}
    with pytest.raises(LabkitError, match="missing from the checkpoint"): load_imagenet(model, bad)


@pytest.mark.slow  # trains EfficientNet-B0 on the CPU
def test_fit_with_frozen_convs_moves_only_the_rest():
    torch.manual_seed(0)
    model = freeze(create_model("efficientnet_b0", n_classes=2), n_conv=60)
    first = conv_table(model)["name"].iloc[0]
    before = model.backbone.get_submodule(first).weight.clone(); head = model.head.weight.clone()
    data = [(torch.randn(8, 61, 20), torch.randint(0, 2, (8,)), torch.full((8,), 61)) for _ in range(2)]
    h = fit(model, data, loss_fn=nn.CrossEntropyLoss(), epochs=2, lr=1e-3, progress=False, device="cpu")
    assert torch.equal(model.backbone.get_submodule(first).weight, before) and not torch.equal(model.head.weight, head)
    assert len(h.records) == 2 and np.isfinite(h.records[-1]["train_loss"])


def test_freeze_blocks_and_names():
    m = freeze_blocks(create_model("efficientnet_b0", heads={"a": 2, "b": 3}), 2)
    frozen = {n.split(".")[2] for n, p in m.named_parameters() if not p.requires_grad}
    assert frozen == {"0", "1"} and all(p.requires_grad for p in m.heads.parameters())


def test_multitask_run_draws_one_task_per_batch_and_scores_each(tmp_path, monkeypatch):
    "The multitask run on labkit's BucketBatchSampler (groups = task ids) and collate_padded: seeded, one head per domain."
    from labkit.data import BucketBatchSampler
    seen = []
    batches = BucketBatchSampler.batches
    monkeypatch.setattr(BucketBatchSampler, "batches", lambda self, epoch=None: seen.append(self.groups) or batches(self, epoch))
    data = dict(names=["radio", "speech"], preset="tiny", seed=0, data_dir=None, features="mfcc")
    spec = dict(kind="multitask", domains=["radio", "speech"], fraction=0.1, weighting="equal", data=data, epochs=1,
                batch_size=16, lr=1e-3, min_steps=2, seed=0, device="cpu")
    r = run_one(spec, tmp_path)
    assert seen and set(np.unique(seen[0])) == {0, 1}
    assert set(r["per_domain"]) == {"radio", "speech"} and all(0 <= v <= 1 for v in r["per_domain"].values())
    assert r["steps"] == 2 + 2 and np.isfinite(r["train_loss"]).all()      # 18 radio and 10 speech clips, repeated to min_steps each
    assert run_one(spec, tmp_path)["cached"]


def test_run_cache_and_bad_kind(tmp_path):
    assert run_key({"a": 1, "b": 2}) == run_key({"b": 2, "a": 1}) != run_key({"a": 1, "b": 3})
    with pytest.raises(LabkitError, match="run kind"): run_one({"kind": "eeg"}, tmp_path)
    (tmp_path / f"{run_key({'kind': 'scratch', 'x': 1})}.json").write_text('{"accuracy": 0.5}')
    assert run_one({"kind": "scratch", "x": 1, "device": "cuda"}, tmp_path) == {"accuracy": 0.5, "cached": True}


def test_the_default_network_needs_no_torchvision(tmp_path, monkeypatch):
    "Lab 8's default network is labkit's CNN: a core install (no labkit[vision]) trains it; EfficientNet-B0 says which extra it needs."
    import sys
    for name in ("torchvision", "torchvision.models"): monkeypatch.setitem(sys.modules, name, None)   # as on a core install
    data = dict(names=["speech", "urban"], preset="tiny", seed=0, data_dir=None, features="mfcc")
    spec = dict(kind="scratch", target="speech", fraction=1.0, data=data, epochs=1, batch_size=16, lr=1e-3, min_steps=2,
                seed=0, device="cpu", arch="cnn")
    r = run_one(spec, tmp_path)
    assert r["steps"] == 4 and 0 <= r["accuracy"] <= 1                  # 60 clips in batches of 16
    with pytest.raises(LabkitError, match=r"labkit\[vision\]"): run_one(dict(spec, arch="efficientnet_b0"), tmp_path)
