"Training recipes: a recipe-wrapped model trains, resumes exactly, reloads and gives its backbone away like a plain one."
import pytest, torch
from torch import nn
from labkit.core import LabkitError
from labkit.models import create_model
from labkit.train import Recipe, RecipeModel, default_recipe, unwrap, warmup_cosine
from labkit.audio import window_starts
from labkit.train import evaluate, fit, load_checkpoint, make_loader, seed_everything
from labkit.train import freeze
from labkit.models import load_backbone
from conftest import assert_same_weights, without_times


pytestmark = pytest.mark.usefixtures("one_thread")  # bit-exact comparisons: one intra-op thread (conftest.py)


def clips(n=16, F=8, seed=0):
    "Whole clips of 20..40 frames (longer than the 16-frame crops); the class is the sign of band 0's mean."
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        x = torch.randn(int(torch.randint(20, 41, (1,), generator=g)), F, generator=g) * 5 - 30
        items.append((x, (x[:, 0].mean() > -30).long(), len(x)))
    return items


RECIPE = Recipe("standardize specaugment crops cosine", crop_frames=16)


def run(out_dir, epochs=3, interrupt_after=None, resume=False):
    "A small CNN with the full recipe (random crops, masks, statistics, schedule) on whole clips."
    items = clips()
    seed_everything(5)
    model = RECIPE.wrap(create_model("cnn", n_classes=2, channels=(4,)), items[:12])
    def interrupt(history):
        if len(history) == interrupt_after: raise KeyboardInterrupt
    h = fit(model, make_loader(items[:12], 4, seed=3), make_loader(items[12:], 4, shuffle=False), loss_fn=nn.CrossEntropyLoss(),
            epochs=epochs, lr=3e-3, scheduler=RECIPE.scheduler(epochs), out_dir=out_dir, resume=resume, callbacks=[interrupt],
            progress=False, device="cpu")
    return model, h


def test_resume_with_a_recipe_is_exact(tmp_path):
    ref, ref_h = run(tmp_path / "ref")
    with pytest.raises(KeyboardInterrupt): run(tmp_path / "cut", interrupt_after=1)
    model, h = run(tmp_path / "cut", resume=True)
    assert without_times(h) == without_times(ref_h) and len(h) == 3
    assert_same_weights(model, ref)
    assert h["lr"][0] < h["lr"][1] > h["lr"][2]                      # warm-up, then down


def test_checkpoint_reloads_and_gives_its_backbone(tmp_path):
    model, _ = run(tmp_path / "run", epochs=2)
    # a later lab rebuilds the trained model from the recipe and the checkpoint (statistics included)
    again = RECIPE.load(tmp_path / "run" / "best.pt", create_model("cnn", n_classes=2, channels=(4,)))
    dl = make_loader(clips(seed=1), 6, shuffle=False)
    load_checkpoint(tmp_path / "run" / "best.pt", model)
    assert (evaluate(model, dl, device="cpu")["preds"] == evaluate(again, dl, device="cpu")["preds"]).all()
    # transfer: the backbone of the wrapped CNN goes into a plain CNN with another head
    new = load_backbone(create_model("cnn", n_targets=1, channels=(4,)), tmp_path / "run" / "best.pt")
    for k, v in new.backbone.state_dict().items(): assert torch.equal(v, unwrap(model).backbone.state_dict()[k])
    freeze(model)                                                     # the transfer helpers see the wrapped backbone
    assert not any(p.requires_grad for p in unwrap(model).backbone.parameters())


def test_windows_average_every_output_kind():
    torch.manual_seed(0)
    heads = RecipeModel(create_model("cnn", heads={"valence": 1, "genre": 3}, channels=(4,)), crop_frames=16).eval()
    x, lengths = torch.randn(3, 70, 8), torch.tensor([70, 33, 9])
    out = heads(x, lengths)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"valence": (3, 1), "genre": (3, 3)}
    inner = unwrap(heads)
    by_hand = torch.stack([inner(x[1:2, s:s + 16], torch.tensor([16]))["genre"][0] for s in window_starts(33, 16, 16)]).mean(0)
    assert torch.allclose(out["genre"][1], by_hand, atol=1e-5)
    small = RecipeModel(create_model("cnn", n_classes=2, channels=(4,)), crop_frames=16, chunk=2).eval()
    assert torch.allclose(small(x, lengths), RecipeModel(unwrap(small), crop_frames=16, chunk=64).eval()(x, lengths), atol=1e-6)


def test_embeddings_of_a_windowed_model_are_refused_not_wrong():
    model = RECIPE.wrap(create_model("cnn", n_classes=2, channels=(4,)), clips(6))
    with pytest.raises(LabkitError, match="one row per window"):
        evaluate(model, make_loader(clips(6), 3, shuffle=False), device="cpu", embeddings=True)
    whole = model.without_crops()                                     # same weights and statistics, one pass per clip
    assert whole.module is model.module and whole.inputs is model.inputs
    assert evaluate(whole, make_loader(clips(6), 3, shuffle=False), device="cpu", embeddings=True)["embeddings"].shape == (6, 4 * 4)


def test_bad_settings_are_named():
    with pytest.raises(LabkitError, match="crop_frames"): RecipeModel(nn.Linear(2, 2), crop_frames=4)
    with pytest.raises(LabkitError, match="warmup"): warmup_cosine(3, warmup=3)
    with pytest.raises(LabkitError, match="rows"): Recipe("keyshift", chroma_rows=(12, 0)).wrap(nn.Linear(2, 2))
    with pytest.raises(LabkitError, match="ingredients are"): Recipe("mixup")
    assert set(default_recipe("lstm", "affect").ingredients) <= {"standardize", "specaugment", "cosine", "keyshift", "keyalign"}


@pytest.mark.slow
def test_lab_3s_default_cnn_learns_short_padded_clips(tmp_path):
    "Clips of different lengths padded in a batch, with silent bands: the default recipe's CNN learns them (padding is not seen)."
    import numpy as np
    from labkit.teach.labs import describe_recipe, genre_cnn, lab_recipe, load_split
    from labkit.synth.domains import spoken_digits
    root = spoken_digits(tmp_path / "data")                                  # 0.3..1.5 s at 8 kHz: bands above 4 kHz silent
    chroma = load_split(root, "chroma", "train", class_mapping="none")
    lstm = lab_recipe("auto", "lstm", "genre", "chroma", train=chroma)       # speech has no key: alignment is left out, said
    assert "keyalign" not in lstm and "key alignment left out (no key in the chroma" in describe_recipe(lstm)
    ckpt = genre_cnn(tmp_path / "run", root, class_mapping="none", epochs=8, batch_size=16, device="cpu")
    test = load_split(root, "mel", "test", class_mapping="none")
    assert len(set(int(n) for *_, n in test)) > 10                                  # lengths really vary
    recipe = default_recipe("cnn", "genre")
    model = recipe.load(ckpt, recipe.create_model("cnn", n_classes=len(test.classes)))
    r = evaluate(model, make_loader(test, batch_size=32, shuffle=False), device="cpu")
    accuracy = (np.asarray(r["preds"]).argmax(1) == np.asarray(r["targets"])).mean()
    assert accuracy > 0.4, f"test accuracy {accuracy:.3f} on 10 classes (chance 0.1)"   # at chance when padding was read as 0 dB
