"""A trial that runs out of device memory: recognised, explained, and its memory given back.

The trial fails alone, with :data:`HINT` in its error. The process that ran it then releases
what the failed trial left in the allocators' caches (:func:`release_memory`); a worker process
is also replaced before its next trial (:mod:`weightsearch.worker`), since memory the task
keeps alive (a model cached in a module global) is only freed with the process.
"""

from __future__ import annotations

import gc
import sys

HINT = (
    "out of device memory: train with a smaller batch (e.g. --param batch_size=...), or run "
    "fewer trials per device (a lower --n-jobs, each device listed once in --devices)"
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a CUDA or MPS out-of-memory error.

    CUDA raises ``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError`` is the same class);
    MPS and older CUDA builds raise a ``RuntimeError`` saying "out of memory".
    """
    # A task that raised torch's error has imported torch: no import here (the coordinator,
    # which imports this module, must not pay torch's import).
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_memory() -> None:
    """Free the memory a failed trial left behind: its tensors, then the allocators' caches.

    Call it once the exception and its traceback (whose frames hold the trial's tensors) are
    gone. The caches are emptied only where the trial initialised them: asking CUDA otherwise
    would initialise it here for nothing.
    """
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    if torch.backends.mps.is_available():
        torch.mps.empty_cache()
