import os, pytest
os.environ.setdefault("MPLBACKEND", "Agg")

@pytest.fixture
def lab_root(tmp_path):
    "A small dataset in the exact real layout (plain .npy, float64, real label quirks)."
    from labkit.data import write_fixture
    return write_fixture(tmp_path / "data", n_train=40, n_test=10)


@pytest.fixture
def one_thread():
    "Bit-exact comparisons need the same reduction order: one intra-op thread (restored afterwards)."
    import torch
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
