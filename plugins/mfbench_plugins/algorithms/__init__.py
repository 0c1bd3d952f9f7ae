"""The built-in algorithms: one subpackage per method family (its public class, numba kernels and
CUDA source), the biased-MF model they share (``model``), the row solver of ALS and BPMF
(``rows``, ``rows_gpu``) and the shared numba building blocks (``kernels``); registered here."""

from __future__ import annotations

from mfbench import hookimpl
from mfbench.specs import AlgorithmSpec

from .als import ALS
from .baselines import Biases, GlobalMean
from .bpmf import BPMF
from .deep import DeepMF, MFAdam
from .minibatch import AdamaxSGD, AdamSGD, MaskedGD, MomentumSGD
from .sgd import SGD
from .svd import ImputedSVD
from .svdpp import SVDpp

#: where one seed gives bit-identical results for the algorithms whose GPU path adds with atomics
#: (cupyx.scatter_add in the mini-batch optimizers, mf_adam and dmf; cupy's weighted bincount) or
#: without a fixed order
CPU_ONLY = ("cpu",)


@hookimpl
def mfbench_algorithms() -> list[AlgorithmSpec]:
    return [
        AlgorithmSpec("global_mean", GlobalMean, "predicts the mean training rating", ("cpu", "gpu")),
        AlgorithmSpec(
            "biases",
            Biases,
            "user + item biases, regularized, by alternating exact passes",
            ("cpu", "gpu"),
            reproducible_on=CPU_ONLY,  # cupy's weighted bincount adds with atomics
        ),
        AlgorithmSpec(
            "sgd",
            SGD,
            "biased MF, per-rating SGD with AdaGrad rows: DSGD blocks (numba), lock-free warps (CUDA)",
            ("cpu", "gpu"),
            reproducible_on=CPU_ONLY,  # lock-free warps
        ),
        AlgorithmSpec(
            "momentum_sgd",
            MomentumSGD,
            "biased MF, mini-batch SGD with heavy-ball momentum",
            ("cpu", "gpu"),
            reproducible_on=CPU_ONLY,
        ),
        AlgorithmSpec("adam_sgd", AdamSGD, "biased MF, mini-batch lazy Adam", ("cpu", "gpu"), CPU_ONLY),
        AlgorithmSpec("adamax_sgd", AdamaxSGD, "biased MF, mini-batch lazy Adamax", ("cpu", "gpu"), CPU_ONLY),
        AlgorithmSpec(
            "als",
            ALS,
            "explicit ALS-WR with biases, Cholesky or CG row solves (numba), batched solves (GPU)",
            ("cpu", "gpu"),
        ),
        AlgorithmSpec(
            "bpmf",
            BPMF,
            "Bayesian MF with biases by Gibbs sampling, Normal-Wishart hyperpriors; rows in "
            "parallel (numba), batched (GPU)",
            ("cpu", "gpu"),
        ),
        AlgorithmSpec(
            "svd",
            ImputedSVD,
            "truncated SVD of the baseline-imputed matrix, never densified",
            ("cpu", "gpu"),
            reproducible_on=CPU_ONLY,  # cuSPARSE's transposed product sums in no fixed order
        ),
        AlgorithmSpec(
            "svdpp", SVDpp, "SVD++: biased MF plus the rated items' implicit rows, SGD grouped by user (numba)"
        ),
        AlgorithmSpec(
            "dmf", DeepMF, "deep MF: an MLP over concatenated user/item (/genre) embeddings", ("cpu", "gpu"), CPU_ONLY
        ),
        AlgorithmSpec("mf_adam", MFAdam, "biased MF by mini-batch Adam, trained like dmf", ("cpu", "gpu"), CPU_ONLY),
        AlgorithmSpec("masked_gd", MaskedGD, "biased MF, full-batch Adam on the dense masked error", ("cpu", "gpu")),
    ]
