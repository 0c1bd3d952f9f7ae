"""Peer libraries as mfbench algorithms, so that users can put them in their own matrix.

``surprise_svd``, ``surprise_svdpp`` and ``surprise_baseline`` wrap scikit-surprise's SVD, SVD++
and BaselineOnly (Hug 2020, JOSS) with their own defaults; ``myfm`` wraps myFM's Gibbs-sampled
factorization machine (Ohtsuki; Rendle 2013) on one-hot users and items, the Bayesian MF peer of
``bpmf`` (the ``peers`` extra: ``pip install "mfbench[peers]"``). Both libraries train all their
epochs in one call, so these report a single epoch holding the whole fit. Predictions come from
the learned model; the harness's unseen rule and clipping apply as for every algorithm.
"""

from __future__ import annotations

from mfbench import hookimpl
from mfbench.specs import AlgorithmSpec

from .myfm import MyFM
from .surprise import SurpriseBaseline, SurpriseSVD, SurpriseSVDpp

__all__ = ["SurpriseSVD", "SurpriseSVDpp", "SurpriseBaseline", "MyFM"]


@hookimpl
def mfbench_algorithms() -> list[AlgorithmSpec]:
    return [
        AlgorithmSpec("surprise_svd", SurpriseSVD, 'scikit-surprise SVD (peer; pip install "mfbench[peers]")'),
        AlgorithmSpec("surprise_svdpp", SurpriseSVDpp, 'scikit-surprise SVD++ (peer; pip install "mfbench[peers]")'),
        AlgorithmSpec("surprise_baseline", SurpriseBaseline, "scikit-surprise BaselineOnly (peer)"),
        AlgorithmSpec(
            "myfm",
            MyFM,
            'myFM Bayesian factorization machine on one-hot users and items (peer; pip install "mfbench[peers]")',
        ),
    ]
