"""``sgd``: biased MF by per-rating SGD with AdaGrad rows; DSGD blocks on numba (``_numba``), lock-free warps on CUDA (``_cuda``, ``_cuda.cu``)."""

from .sgd import SGD

__all__ = ["SGD"]
