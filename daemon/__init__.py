"""aqmllm.daemon"""

import os as _os

# The student is a small batched MLP: one BLAS thread is fastest, and a
# thread pool per core fights the packet producer for the CPUs (measured:
# 4096x(27-64-64-3) takes 1.5 ms on one thread, 8 ms with OpenBLAS's pool
# on a busy two-core host).  Set before numpy loads; the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
