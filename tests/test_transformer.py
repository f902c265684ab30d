"""The AST: parameter counts against the reference's, and checkpoints in timm's DeiT format and in AST's own format
(built here, never downloaded) loaded with the documented adaptations: RGB patch filters summed to one channel, the
positional grid cut at the centre or interpolated (time first, then frequency), prefixes stripped, a round trip."""
import pytest, torch
import torch.nn.functional as F

from labkit.core import LabkitError
from labkit.models import count_parameters, create_model
from labkit.models import ASTModel, load_ast_checkpoint, load_deit


@pytest.mark.parametrize("name,expected", [("ast_tiny", 5_723_663), ("ast_small", 22_063_631), ("ast_base", 86_594_063)])
def test_parameter_counts_match_the_reference(name, expected):
    with torch.device("meta"):  # shapes only: no memory, no time
        model = create_model(name, n_classes=527, input_fdim=128, input_tdim=1024)
    assert model.grid == (12, 101) and model.pos_embed.shape[1] == 1212 + 2
    assert count_parameters(model) == expected


def deit_state(dim, depth, side, heads=3):
    "Random tensors named and shaped as timm's distilled DeiT: 3-channel 16 x 16 patches on a side x side grid, two heads."
    with torch.device("meta"):
        ref = ASTModel(None, dim=dim, depth=depth, heads=heads, input_fdim=16 * side, input_tdim=16 * side, fstride=16, tstride=16)
    sd = {k: torch.randn(v.shape) for k, v in ref.state_dict().items()}
    sd["patch_embed.proj.weight"] = torch.randn(dim, 3, 16, 16)
    sd.update({"head.weight": torch.randn(1000, dim), "head.bias": torch.zeros(1000),
               "head_dist.weight": torch.randn(1000, dim), "head_dist.bias": torch.zeros(1000)})
    return sd


def expected_grid(pos, side, f, t):
    "The reference's adaptation written out: (1, D, side, side) grid, time cut/interpolated, then frequency."
    D = pos.shape[-1]
    g = pos[:, 2:].transpose(1, 2).reshape(1, D, side, side)
    g = g[..., side // 2 - t // 2: side // 2 - t // 2 + t] if t <= side else F.interpolate(g, size=(side, t), mode="bilinear")
    g = g[:, :, side // 2 - f // 2: side // 2 - f // 2 + f] if f <= side else F.interpolate(g, size=(f, t), mode="bilinear")
    return g.reshape(1, D, f * t).transpose(1, 2)


def test_deit_base_384_loads_into_ast_base():
    torch.manual_seed(0)
    sd = deit_state(768, 12, 24, heads=12)                      # deit_base_distilled_patch16_384's shapes
    with torch.device("meta"):                                  # skip the random init of 86 M weights: all are loaded
        model = create_model("ast_base", n_classes=527)         # 128 x 1024: a 12 x 101 grid
    model = model.to_empty(device="cpu")
    report = load_deit(model, {"model": sd})                    # timm/DeiT releases wrap the weights in 'model'
    assert torch.equal(model.patch_embed.proj.weight, sd["patch_embed.proj.weight"].sum(1, keepdim=True))
    assert torch.equal(model.pos_embed[:, :2], sd["pos_embed"][:, :2])  # cls and dist positions kept
    assert torch.allclose(model.pos_embed[:, 2:], expected_grid(sd["pos_embed"], 24, 12, 101))
    assert torch.equal(model.blocks[11].mlp.fc2.weight, sd["blocks.11.mlp.fc2.weight"])
    assert report["skipped"] == ["head.bias", "head.weight", "head_dist.bias", "head_dist.weight"]
    assert report["new"] == ["mlp_head.0.weight", "mlp_head.0.bias", "mlp_head.1.weight", "mlp_head.1.bias"]


def test_deit_224_grid_cut_at_the_centre():
    torch.manual_seed(0)
    sd = deit_state(192, 1, 14)
    model = ASTModel(10, dim=192, depth=1, heads=3, input_fdim=128, input_tdim=96)   # 12 x 9 grid: both axes cut
    load_deit(model, sd)
    assert model.grid == (12, 9)
    assert torch.equal(model.pos_embed[:, 2:], expected_grid(sd["pos_embed"], 14, 12, 9))


def test_wrong_width_and_missing_file_are_named(tmp_path):
    with pytest.raises(LabkitError, match="192 wide but the model 384"):
        load_deit(ASTModel(10, dim=384, depth=1, heads=6, input_tdim=64), deit_state(192, 1, 14))
    with pytest.raises(LabkitError, match="does not exist"):
        load_deit(ASTModel(10, dim=192, depth=1, heads=3, input_tdim=64), tmp_path / "nope.pth")


def test_ast_checkpoint_round_trip_and_new_length(tmp_path):
    torch.manual_seed(0)
    src = ASTModel(7, dim=64, depth=2, heads=2, input_fdim=128, input_tdim=256).eval()
    wrapped = {("module." if k.startswith("mlp_head.") else "module.v.") + k: v for k, v in src.state_dict().items()}
    path = tmp_path / "ast.pth"
    torch.save(wrapped, path)                                    # as AST saves a DataParallel model
    same = ASTModel(7, dim=64, depth=2, heads=2, input_fdim=128, input_tdim=256).eval()
    report = load_ast_checkpoint(same, path)
    assert report == {"adapted": [], "new": [], "skipped": []}
    x = torch.randn(2, 256, 128)
    assert torch.allclose(same(x), src(x), atol=1e-6)           # the round trip gives the same model
    shorter = ASTModel(3, dim=64, depth=2, heads=2, input_fdim=128, input_tdim=128)  # 12 x 12 from 12 x 25
    report = load_ast_checkpoint(shorter, path)
    assert report["new"][0].startswith("mlp_head") and "12 x 25 grid -> 12 x 12" in report["adapted"][0]
    grid = src.pos_embed[0, 2:].reshape(12, 25, 64)
    assert torch.equal(shorter.pos_embed[0, 2:].reshape(12, 12, 64), grid[:, 12 - 6: 12 + 6])  # centre frames
