"""numba building blocks shared by the families' kernels: compiling only the variant a cell runs and
sharing work among threads (``compiling``), explicit vector passes (``simd``), software prefetch
(``prefetch``), the shuffle of the per-rating methods (``shuffle``) and prediction of pairs (``predict``)."""
