"""Parity of the GPU paths with the CPU on the same seed and data.

Every test runs twice (the ``gpu_namespace`` fixture): on cupy where a GPU is present, and in
every run on a numpy stand-in that takes the same device branches, so that CI exercises the
GPU paths' array code. The bounds are the issue's: ALS factors within 1e-3 relative after a
sweep, SVD singular values within 1e-4, the mini-batch optimizers within float32 tolerance.
``sgd``'s CUDA kernel has its own tests (``test_gpu_sgd.py``).
"""

import functools

import numpy as np
import pytest

from mfbench.errors import MfbenchError
from mfbench.registry import get_registry
from mfbench.testing import planted_split
from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.als.als import ALS
from mfbench_plugins.algorithms.minibatch.masked_gd import MaskedGD
from mfbench_plugins.algorithms.minibatch.minibatch import AdamaxSGD, AdamSGD, MomentumSGD
from mfbench_plugins.algorithms.svd.svd import ImputedSVD
from support.als_check import check_half_sweep, recorded_half_sweeps, to_host


@pytest.fixture(scope="module")
def small():
    r, _ = generate(n_users=120, n_items=80, n_ratings=3000, rank=3, seed=5)
    return r


def fit(factory, ratings, **kw):
    """``(algorithm, per-epoch objectives)`` after a full fit (each evaluated in its epoch, as the
    runner does; ``None`` for an algorithm that reports none)."""
    algo = factory(**kw)
    algo.prepare(ratings)
    return algo, [evaluated(info).get("objective") for info in algo.fit(ratings)]


def evaluated(info):
    """An epoch's info with its callables called, as the runner calls them after each epoch."""
    return {key: value() if callable(value) else value for key, value in info.items()}


def assert_state_close(gpu, cpu, names, rtol, atol):
    got, want = gpu.state(), cpu.state()
    for name in names:
        np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("factory, kw", [(MomentumSGD, dict(lr=0.2)), (AdamSGD, {}), (AdamaxSGD, {})])
@pytest.mark.parametrize("biased", [True, False])
def test_minibatch_on_the_gpu_equals_the_numba_kernel(gpu_namespace, small, factory, kw, biased):
    """Same seed, same host shuffle, same batches: the GPU's scatter-add array code and the
    CPU's fused kernel give the same losses and factors to float32 tolerance."""
    args = dict(k=5, epochs=3, batch_size=50, biased=biased, seed=3, **kw)
    cpu, cpu_losses = fit(factory, small, **args)
    gpu, gpu_losses = fit(factory, small, device="gpu", **args)
    assert gpu.xp is gpu_namespace and cpu.backend == gpu.backend == "auto"
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    assert_state_close(gpu, cpu, ("P_", "Q_", "bu_", "bi_"), rtol=1e-4, atol=5e-5)


@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_als_on_the_gpu_solves_what_the_numba_cholesky_solves(monkeypatch, gpu_namespace, small, biased, weighted):
    """The device path of ``als`` (CSR on the device, batched normal equations and solves, the
    chunked loss) and the numba Cholesky each solve every row's normal equations, held to a
    float64 solve at a bound set by float32 and the row's conditioning; their losses and
    predictions agree. Factors are not compared element by element across the two paths: a
    float32 solve of an ill-conditioned row legitimately differs between BLAS builds."""
    from mfbench_plugins.algorithms.als import als as als_module

    # small chunks, so that the chunked loss crosses chunk boundaries
    monkeypatch.setattr(
        als_module, "squared_error_chunked", functools.partial(als_module.squared_error_chunked, chunk=7)
    )
    kw = dict(k=6, epochs=2, biased=biased, weighted=weighted, seed=2)
    losses, preds = {}, {}
    for device in ("cpu", "gpu"):
        algo = ALS(**kw, device=device)
        algo.prepare(small)
        calls = recorded_half_sweeps(algo)
        losses[device] = [evaluated(info)["objective"] for info in algo.fit(small)]
        assert [side for side, _, _ in calls] == ["users", "items"] * 2
        for side, given, written in calls:
            check_half_sweep(algo, small, side, given, written)
        # the reported loss is the loss of the factors it reports, as a float64 sum computes it
        X, Y = (np.asarray(to_host(a), np.float64) for a in (algo.X_, algo.Y_))
        want = (
            als_module.als_loss(
                small.users,
                small.items,
                small.values.astype(np.float64),
                X,
                Y,
                float(algo.mu_),
                algo.reg,
                algo.reg_bias,
                weighted,
                biased,
            )
            * 2
            / len(small)
        )
        np.testing.assert_allclose(losses[device][-1], want, rtol=1e-5)
        preds[device] = algo.predict(small.users, small.items)
    assert (device_algo := algo).xp is gpu_namespace and hasattr(device_algo, "_rows_u")
    # both paths minimize the same loss from the same start: equal to well within a float32 sweep
    np.testing.assert_allclose(losses["gpu"], losses["cpu"], rtol=1e-4)
    # predictions: a thousandth of a rating step (the factors differ by about 1e-4 at most)
    np.testing.assert_allclose(preds["gpu"], preds["cpu"], rtol=0, atol=1e-3)


@pytest.mark.parametrize("center", [True, False])
def test_svd_on_the_gpu_has_the_cpu_spectrum(gpu_namespace, small, center):
    """``solver=auto`` is the randomized range finder on the GPU: its singular values are the
    CPU's randomized ones within 1e-4 (same seed, same start), and ARPACK's within 1e-3."""
    gpu, _ = fit(ImputedSVD, small, k=5, center=center, device="gpu")
    cpu, _ = fit(ImputedSVD, small, k=5, center=center, solver="randomized")
    arpack, _ = fit(ImputedSVD, small, k=5, center=center)
    assert gpu._solver == "randomized" and arpack._solver == "arpack"
    got = gpu.state()
    s = np.linalg.norm(got["U_"], axis=0)  # U_ holds U * s
    np.testing.assert_allclose(s, np.linalg.norm(cpu.state()["U_"], axis=0), rtol=1e-4)
    np.testing.assert_allclose(s, np.asarray(arpack.singular_values_), rtol=1e-3)
    np.testing.assert_allclose(
        gpu.predict(small.users, small.items), cpu.predict(small.users, small.items), rtol=1e-4, atol=1e-4
    )


def test_arpack_is_refused_on_the_gpu(stand_in_gpu, small):
    with pytest.raises(MfbenchError, match="svd on gpu needs solver=randomized or auto"):
        ImputedSVD(solver="arpack", device="gpu").prepare(small)


def test_energy_rank_on_the_gpu(gpu_namespace, small):
    """``k=energy:F`` reads the spectrum back from the device and picks the CPU's rank."""
    gpu, _ = fit(ImputedSVD, small, k="energy:0.5", k_max=20, device="gpu")
    cpu, _ = fit(ImputedSVD, small, k="energy:0.5", k_max=20, solver="randomized")
    assert gpu.state()["U_"].shape[1] == cpu.state()["U_"].shape[1] > 1


@pytest.mark.parametrize("optimizer", ["adam", "gd"])
def test_masked_gd_on_the_gpu_equals_the_cpu(gpu_namespace, small, optimizer):
    """Dense masked gradient steps (cuBLAS on the GPU) follow the CPU's to float32 tolerance."""
    kw = dict(k=5, epochs=10, optimizer=optimizer, lr=0.05 if optimizer == "adam" else 2.0, seed=1)
    cpu, cpu_losses = fit(MaskedGD, small, **kw)
    gpu, gpu_losses = fit(MaskedGD, small, device="gpu", **kw)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    assert_state_close(gpu, cpu, ("P_", "Q_", "bu_", "bi_"), rtol=1e-3, atol=1e-4)


GPU_ALGORITHMS = [
    name
    for name in get_registry().names("algorithm")
    if "gpu" in get_registry().algorithm(name).devices and name != "sgd"
]
SMALL_PARAMS = {"k": 4, "epochs": 3, "batch_size": 256}


@pytest.mark.parametrize("name", GPU_ALGORITHMS)
def test_every_gpu_algorithm_predicts_what_the_cpu_predicts(gpu_namespace, name):
    """Each built-in that declares the GPU trains there and predicts what it predicts on the
    CPU (``sgd``'s lock-free kernel is held by its own tests)."""
    spec = get_registry().algorithm(name)
    params = {key: value for key, value in SMALL_PARAMS.items() if key in spec.factory().params()}
    split = planted_split(n_users=80, n_items=60, n_ratings=2000)
    preds = {}
    for device in ("cpu", "gpu"):
        algo = spec.factory(**params, device=device, seed=0)
        algo.prepare(split.train)
        list(algo.fit(split.train))
        preds[device] = algo.predict(split.test.users, split.test.items)
    np.testing.assert_allclose(preds["gpu"], preds["cpu"], rtol=1e-3, atol=1e-3)
