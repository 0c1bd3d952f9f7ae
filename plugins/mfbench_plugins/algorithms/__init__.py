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


@hookimpl
def mfbench_algorithms() -> list[AlgorithmSpec]:
    return [
        AlgorithmSpec("global_mean", GlobalMean, "predicts the mean training rating", ("cpu", "gpu")),
        AlgorithmSpec("biases", Biases, "user + item biases, regularized, by alternating exact passes", ("cpu", "gpu")),
        AlgorithmSpec(
            "sgd",
            SGD,
            "biased MF, per-rating SGD with AdaGrad rows: DSGD blocks (numba), lock-free warps (CUDA)",
            ("cpu", "gpu"),
        ),
        AlgorithmSpec(
            "momentum_sgd", MomentumSGD, "biased MF, mini-batch SGD with heavy-ball momentum", ("cpu", "gpu")
        ),
        AlgorithmSpec("adam_sgd", AdamSGD, "biased MF, mini-batch lazy Adam", ("cpu", "gpu")),
        AlgorithmSpec("adamax_sgd", AdamaxSGD, "biased MF, mini-batch lazy Adamax", ("cpu", "gpu")),
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
            "svd", ImputedSVD, "truncated SVD of the baseline-imputed matrix, never densified", ("cpu", "gpu")
        ),
        AlgorithmSpec(
            "svdpp", SVDpp, "SVD++: biased MF plus the rated items' implicit rows, SGD grouped by user (numba)"
        ),
        AlgorithmSpec("dmf", DeepMF, "deep MF: an MLP over concatenated user/item (/genre) embeddings", ("cpu", "gpu")),
        AlgorithmSpec("mf_adam", MFAdam, "biased MF by mini-batch Adam, trained like dmf", ("cpu", "gpu")),
        AlgorithmSpec("masked_gd", MaskedGD, "biased MF, full-batch Adam on the dense masked error", ("cpu", "gpu")),
    ]
