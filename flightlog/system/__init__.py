"""System metrics of a run: CPU, memory, disk, network and GPUs, sampled on a daemon
thread and stored as ``system`` records (SPEC.md §19.2), named as W&B names them.

``flightlog.init(..., system_metrics=True)`` (the default) starts a :class:`Sampler`
for the calling process; ``flightlog run`` starts one for the script it runs (the
script's own ``init`` then samples nothing, so nothing is sampled twice). psutil is a
core dependency (README "Running scripts" says why); GPUs are read through NVML
(``pip install 'flightlog[gpu]'``, nvidia-ml-py), and a machine without a GPU, the
driver or the package gets no GPU metrics and no message.
"""

from __future__ import annotations

from .names import DEFAULT_INTERVAL
from .sampler import Sampler

__all__ = ["DEFAULT_INTERVAL", "Sampler"]
