"""The JAX / BlackJAX peers of samplers_user.py (benchmarks/jax_peer.py, in a subprocess with a Python that has jax).

Two ways to time them (``samplers_user.py --peers``):

* ``interleaved`` (default): :class:`PeerServer` keeps ``jax_peer.py --serve`` running; for each row it has the peers
  compiled, then after each of our repeats times one run of each peer. The ratios are **paired**: the median over
  repeats of ours ÷ peer, each pair measured seconds apart, so a change of load on a shared machine moves both sides
  of a ratio instead of one (run after ours, BlackJAX's rates for identical networks differed by up to 1.7× between
  rows of one run: docs/performance_log.md, "Session 15").
* ``after``: every row of ours first, then the peers' medians in one subprocess run (before session 15).

The rows, settings, weights and starting points travel as a SPEC directory of JSON and ``.npy`` files
(:func:`write_spec`); nothing is unpickled on either side.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from user_energies import build_problem

JAX_PEER = Path(__file__).resolve().parent / "jax_peer.py"


def write_spec(folder: Path, rows: list[dict], repeats: int, clock: str) -> Path:
    """SPEC.json in ``folder`` for ``rows`` (dicts with key, sampler, energy, chains, steps, n_leapfrog, friction;
    the step size is the problem's), with each energy's weights and each (energy, chains)'s starting points."""
    spec_rows = []
    for row in rows:
        problem = build_problem(row["energy"])
        (folder / row["energy"]).mkdir(exist_ok=True)
        for name, array in problem.arrays.items():
            np.save(folder / row["energy"] / f"{name}.npy", array)
        np.save(folder / f"x0_{row['energy']}_{row['chains']}.npy", problem.x0(row["chains"]).numpy())
        spec_rows.append(row | {"step_size": problem.step_size})
    path = folder / "spec.json"
    path.write_text(json.dumps({"rows": spec_rows, "arrays": str(folder), "repeats": repeats, "clock": clock}))
    return path


def peer_env(device: str, precision: str | None, threads: int | None) -> dict[str, str]:
    """The peers' environment: JAX on ``device``, no preallocation; ``precision`` as JAX_DEFAULT_MATMUL_PRECISION;
    ``threads=1`` off CUDA: XLA's CPU backend on one thread, as ours."""
    env = dict(os.environ, JAX_PLATFORMS="cuda" if device == "cuda" else "cpu", XLA_PYTHON_CLIENT_PREALLOCATE="false")
    if precision:  # e.g. "highest" (full float32, like ours) or "tensorfloat32" (like ours with --tf32)
        env["JAX_DEFAULT_MATMUL_PRECISION"] = precision
    if threads == 1 and device != "cuda":
        one = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {one}".strip()
    return env


class PeerServer:
    """``jax_peer.py --serve SPEC`` driven one request at a time (module doc). ``versions``: what it runs."""

    def __init__(self, python: str, spec: Path, env: dict[str, str], script: Path | None = None) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: JAX's warnings can never block it
        self.proc = subprocess.Popen(
            [python, str(script or JAX_PEER), "--serve", str(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env,
        )  # fmt: skip
        self.versions = self._reply()

    def _reply(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stderr.seek(0)
            tail = self.stderr.read().strip().splitlines()[-1:]
            raise RuntimeError(f"the JAX peer stopped (rc {self.proc.wait()}): {tail}")
        return json.loads(line)

    def _ask(self, command: str, key: int) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{command} {key}\n")
        self.proc.stdin.flush()
        return self._reply()

    def prepare(self, key: int) -> dict[str, float]:
        """Compile row ``key``'s peers and run each once; their compile seconds by peer name."""
        return self._ask("prepare", key)["compile_s"]

    def time(self, key: int) -> dict[str, float]:
        """Seconds of one run of each of row ``key``'s peers (the last prepared row), by peer name."""
        return self._ask("time", key)["seconds"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.stderr.close()
