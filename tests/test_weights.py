"""One reader for every weight file labkit loads: a file that holds no weights is refused by each public loader with a
message naming the file, what it holds instead and the fix, and never with the advice to load it with weights_only=False."""
import pickle
import numpy as np, pytest, torch
from torch import nn
from labkit.core import LabkitError
from labkit.models import ASTModel, create_model, load_ast_checkpoint, load_deit, load_imagenet, read_state_dict
from labkit.train import load_checkpoint, load_model

FILES = {  # name -> (how it is made, what the message says)
    "empty.pth": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "page.pth": (lambda p: p.write_text("<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>"), "is an HTML page"),
    "array.pth": (lambda p: (np.save(p.with_suffix(".npy"), np.zeros(3)), p.with_suffix(".npy").rename(p)), "holds NumPy data"),
    "module.pth": (lambda p: torch.save(nn.Linear(2, 2), p), "rebuilding it needs torch.nn.modules.linear.Linear"),
    "objects.pth": (lambda p: p.write_bytes(pickle.dumps({"a": 1})), "a pickled Python object"),
    "cut.pth": (lambda p: (torch.save({"w": torch.ones(3)}, p), p.write_bytes(p.read_bytes()[:200])), "is truncated"),
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

