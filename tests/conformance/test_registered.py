"""Every registered algorithm, built-in or installed, runs the conformance checks.

A new algorithm is covered without writing a line here; ``SETTINGS`` only makes slow ones fast
and states the accuracy each must reach on the planted data (noise 0.3, so 0.3 is the floor).
"""

from __future__ import annotations

from mfbench.registry import get_registry
from mfbench.testing import AlgorithmChecks

SURPRISE = {
    "check_state_round_trip": "Surprise keeps its state in its own objects",
    "check_fit_yields_once_per_epoch": "Surprise trains all its epochs in one call",
}

SETTINGS: dict[str, dict] = {
    "global_mean": {"expected_rmse": (0.5, 1.5)},
    "biases": {"expected_rmse": (0.3, 1.0)},
    # the planted test part has cold users and items (baseline-predicted), so 0.45 is near the floor here
    "sgd": {
        "params": {"k": 8, "epochs": 20},
        "expected_rmse": (0.3, 0.55),
        "expected_failures": {
            "check_devices_agree": "lock-free GPU SGD applies the ratings in another order; its "
            "parity with the CPU is by test RMSE and by a one-warp run (tests/unit/test_gpu_sgd.py)"
        },
    },
    "momentum_sgd": {"params": {"k": 8, "epochs": 20, "batch_size": 256}, "expected_rmse": (0.3, 0.55)},
    "adam_sgd": {"params": {"k": 8, "epochs": 20, "batch_size": 256}, "expected_rmse": (0.3, 0.55)},
    "adamax_sgd": {"params": {"k": 8, "epochs": 20, "batch_size": 256}, "expected_rmse": (0.3, 0.55)},
    "als": {"params": {"k": 8, "epochs": 8}, "expected_rmse": (0.3, 0.55)},
    # imputing the missing residuals with zeros shrinks the factors: well above the noise, below biases (0.82)
    "svd": {"params": {"k": 4}, "expected_rmse": (0.3, 0.75)},
    "surprise_baseline": {"expected_rmse": (0.3, 1.0), "expected_failures": SURPRISE, "requires": ("surprise",)},
    "surprise_svd": {
        "params": {"k": 8, "epochs": 20, "lr": 0.02},
        "expected_rmse": (0.3, 0.6),
        "expected_failures": SURPRISE,
        "requires": ("surprise",),
    },
    "surprise_svdpp": {
        "params": {"k": 4, "epochs": 5},
        "expected_rmse": (0.3, 0.9),
        "expected_failures": SURPRISE,
        "requires": ("surprise",),
    },
    "myfm": {
        "params": {"k": 8, "epochs": 30, "burn_in": 10},
        "expected_rmse": (0.3, 0.55),
        "requires": ("myfm",),
        "expected_failures": {
            "check_state_round_trip": "myFM keeps its samples in its own objects",
            "check_fit_yields_once_per_epoch": "myFM runs all its sweeps in one call",
        },
    },
    "bpmf": {"params": {"k": 8, "epochs": 30, "burn_in": 10}, "expected_rmse": (0.3, 0.55)},
    "svdpp": {"params": {"k": 8, "epochs": 30, "lr": 0.01}, "expected_rmse": (0.3, 0.6)},
    "lenskit_als": {"params": {"k": 8, "epochs": 8}, "expected_rmse": (0.3, 0.6), "requires": ("lenskit",)},
    "spark_als": {
        "params": {"k": 8, "epochs": 8, "reg": 0.05},
        "expected_rmse": (0.3, 0.6),
        "requires": ("pyspark",),
        "expected_failures": {"check_fit_yields_once_per_epoch": "MLlib trains all its iterations in one call"},
    },
    "dmf": {"params": {"epochs": 10, "batch_size": 256, "reg": 1.0}, "expected_rmse": (0.3, 0.7)},
    "mf_adam": {"params": {"k": 8, "epochs": 20, "batch_size": 256}, "expected_rmse": (0.3, 0.55)},
    "masked_gd": {"params": {"k": 8, "epochs": 100}, "expected_rmse": (0.3, 0.55)},
}

for _name in get_registry().names("algorithm"):
    _spec = get_registry().algorithm(_name)
    _extra = SETTINGS.get(_name, {})
    _cls = type(
        f"TestConformance_{_name}",
        (AlgorithmChecks,),
        {
            "algorithm": _name,
            "devices": _spec.devices,
            "params": _extra.get("params", {}),
            "expected_rmse": _extra.get("expected_rmse"),
            "expected_failures": _extra.get("expected_failures", {}),
            "requires": _extra.get("requires", ()),
            "__module__": __name__,
        },
    )
    globals()[_cls.__name__] = _cls
