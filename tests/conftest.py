"""Test-session settings.

The suite is dominated by many small tensor operations, for which one intra-op thread is several times
faster than two on a shared 2-core machine (threads spin-wait for each other): measured 6.8 s vs 27.8 s
for the MALA gaussian-50 test under a load of ~2. Tests therefore run single-threaded.
"""

from __future__ import annotations

import torch

torch.set_num_threads(1)
