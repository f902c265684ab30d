"""One reader for every weight file labkit loads: a file that holds no weights is refused by each public loader with a
message naming the file, what it holds instead and the fix, and never with the advice to load it with weights_only=False."""
import pickle
import numpy as np, pytest, torch
from torch import nn
from labkit.core import LabkitError
from labkit.models import ASTModel, create_model, load_ast_checkpoint, load_backbone, load_deit, load_imagenet, read_state_dict
from labkit.train import load_checkpoint, load_model

FILES = {  # name -> (how it is made, what the message says)
    "empty.pth": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "page.pth": (lambda p: p.write_text("<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>"), "is an HTML page"),
    "array.pth": (lambda p: (np.save(p.with_suffix(".npy"), np.zeros(3)), p.with_suffix(".npy").rename(p)), "holds NumPy data"),
    "module.pth": (lambda p: torch.save(nn.Linear(2, 2), p), "rebuilding it needs torch.nn.modules.linear.Linear"),
    "objects.pth": (lambda p: p.write_bytes(pickle.dumps({"a": 1})), "a pickled Python object"),
    "cut.pth": (lambda p: (torch.save({"w": torch.ones(3)}, p), p.write_bytes(p.read_bytes()[:200])), "is truncated"),
    "diverged.pth": (lambda p: torch.save({"model": {"w": torch.tensor([1.0, float("nan"), float("inf")])}, "epoch": 3}, p),
                     "holds non-finite weights: w has 2 NaN or inf value(s) of 3"),
}
LOADERS = {
    "read_state_dict": read_state_dict,
    "load_checkpoint": load_checkpoint,
    "load_model": load_model,
    "load_deit": lambda p: load_deit(ASTModel(10, dim=192, depth=1, heads=3, input_tdim=64), p),
    "load_ast_checkpoint": lambda p: load_ast_checkpoint(ASTModel(10, dim=192, depth=1, heads=3, input_tdim=64), p),
    "load_imagenet": lambda p: load_imagenet(create_model("efficientnet_b0", n_classes=2), p),
}


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("name", list(FILES))
def test_every_loader_names_what_a_bad_file_holds(tmp_path, loader, name):
    make, says = FILES[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(LabkitError) as e: LOADERS[loader](path)
    msg = str(e.value)
    assert str(path) in msg and says in msg, msg
    assert "weights_only=False" not in msg and not isinstance(e.value.__cause__, pickle.UnpicklingError)



def small_ast(depth=2, n=7):
    torch.manual_seed(0)
    return ASTModel(n, dim=64, depth=depth, heads=2, input_fdim=128, input_tdim=128).eval()


@pytest.mark.parametrize("load", [load_ast_checkpoint, load_deit])
def test_another_depth_is_refused_unless_a_partial_load_is_asked_for(tmp_path, capsys, load):
    path = tmp_path / "deep.pth"
    torch.save(small_ast(depth=3).state_dict(), path)
    for depth, says in ((2, "it has 3 blocks and the model 2"), (4, "it has 3 blocks and the model 4")):
        with pytest.raises(LabkitError) as e: load(small_ast(depth), path)
        msg = str(e.value)
        assert str(path) in msg and says in msg and "strict=False" in msg and "weights_only" not in msg, msg
    shallow = small_ast(depth=2)
    load(shallow, path, strict=False)                       # asked for: the first two blocks, and a word on the rest
    out = capsys.readouterr().out
    assert f"partial load from " in out and str(path) in out and "dropped from the checkpoint: blocks.2." in out, out
    assert torch.equal(shallow.blocks[1].mlp.fc2.weight, torch.load(path)["blocks.1.mlp.fc2.weight"])


def test_a_partial_backbone_load_says_what_it_kept_and_dropped(tmp_path, capsys):
    source = create_model("cnn", n_classes=3, channels=(4, 8))
    torch.save({"model": source.state_dict()}, tmp_path / "best.pt")
    wider = create_model("cnn", n_targets=1, channels=(4, 16))
    with pytest.raises(LabkitError, match="shape mismatch"): load_backbone(wider, tmp_path / "best.pt")
    load_backbone(wider, tmp_path / "best.pt", strict=False)
    out = capsys.readouterr().out
    assert "partial load from" in out and "kept " in out and "dropped from the checkpoint: " in out and "left as initialised in the model: " in out
    assert "none" not in out.split("dropped from the checkpoint: ")[1].split("\n")[0]


def test_non_finite_weights_in_a_dict_are_refused():
    with pytest.raises(LabkitError, match=r"the checkpoint holds non-finite weights: b has 1 NaN or inf value\(s\) of 1"):
        read_state_dict({"a": torch.ones(2), "b": torch.tensor([float("nan")])})
    sd = small_ast().state_dict(); sd["blocks.0.attn.qkv.weight"][0, 0] = float("inf")
    with pytest.raises(LabkitError, match="blocks.0.attn.qkv.weight has 1 NaN"): load_ast_checkpoint(small_ast(), sd)
