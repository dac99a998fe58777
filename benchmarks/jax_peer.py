"""JAX peer of benchmarks/samplers_user.py: the same energies and samplers as ``jit(lax.scan(vmap(step)))``.

Run by samplers_user.py in a subprocess (``python jax_peer.py SPEC.json OUT.json``) with a Python that has
``jax`` (and optionally ``blackjax``). SPEC holds the rows, settings and a directory of ``.npy`` weight
arrays (read with ``allow_pickle=False``). For each row it reports the compile time (lower + compile,
separately) and the median wall time of ``repeats`` runs after one warm-up run.
Samplers, per chain (vmapped): ULA x' = x − λ∇E + √(2λ)ξ; MALA (E, ∇E cached); HMC with L leapfrog
steps (∇E cached); kinetic Langevin BAOAB, c = exp(−γh). BlackJAX: ``sgld`` with the exact gradient
(= ULA), ``mala``, ``hmc`` (unit mass, L steps); no kinetic row (BlackJAX has no BAOAB kernel here).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

ANGLES = np.arange(8) * (2 * math.pi / 8)
MEANS = jnp.asarray(4.0 * np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1), dtype=jnp.float32)


def energy_fn(name: str, w: dict):
    """Per-chain energy x (event) -> scalar."""
    if name == "mog8":
        return lambda x: -jax.nn.logsumexp(-jnp.sum((x - MEANS) ** 2, -1) / 0.5)
    if name == "many-well":

        def many_well(x):
            a, b = x[0::2], x[1::2]
            return jnp.sum(a**4 - 6 * a**2 + 0.5 * a + 0.5 * b**2)

        return many_well
    if name.startswith("mlp"):  # mlp, mlp-module, mlp-module-onednn: one network, one set of weights

        def mlp(x):
            h = jax.nn.silu(w["net_0_weight"] @ x + w["net_0_bias"])
            h = jax.nn.silu(w["net_2_weight"] @ h + w["net_2_bias"])
            return (w["net_4_weight"] @ h + w["net_4_bias"])[0]

        return mlp
    if name == "conv":

        def conv(x):
            h = x[None]
            for i, stride, pad in ((0, 1, 1), (2, 2, 1), (4, 2, 1)):
                h = lax.conv_general_dilated(h, w[f"features_{i}_weight"], (stride, stride), [(pad, pad)] * 2)
                h = jax.nn.silu(h + w[f"features_{i}_bias"][None, :, None, None])
            return (w["head_weight"] @ h.reshape(-1) + w["head_bias"])[0]

        return conv
    raise ValueError(name)


def own_step(sampler: str, energy, lam: float, n_leap: int, friction: float):
    """One per-chain step: ``(state, key) -> state``; state = (x, e, g, v)."""
    eg = jax.value_and_grad(energy)

    def ula(s, key):
        x, _, g, v = s
        y = x - lam * g + math.sqrt(2 * lam) * jax.random.normal(key, x.shape)
        return (y, *eg(y), v)

    def mala(s, key):
        x, e, g, v = s
        k1, k2 = jax.random.split(key)
        xi = jax.random.normal(k1, x.shape)
        y = x - lam * g + math.sqrt(2 * lam) * xi
        ey, gy = eg(y)
        log_a = e - ey - jnp.sum((x - y + lam * gy) ** 2) / (4 * lam) + 0.5 * jnp.sum(xi**2)
        acc = jnp.log(jax.random.uniform(k2)) < jnp.nan_to_num(log_a, nan=-jnp.inf)
        return (jnp.where(acc, y, x), jnp.where(acc, ey, e), jnp.where(acc, gy, g), v)

    def hmc(s, key):
        x0, e0, g0, v = s
        k1, k2 = jax.random.split(key)
        p0 = jax.random.normal(k1, x0.shape)

        def leap(c, i):
            x, e, g, p = c
            x = x + lam * p
            e, g = eg(x)
            return (x, e, g, p - jnp.where(i == n_leap - 1, 0.5, 1.0) * lam * g), None

        (x, e, g, p), _ = lax.scan(leap, (x0, e0, g0, p0 - 0.5 * lam * g0), jnp.arange(n_leap))
        dh = e - e0 + 0.5 * jnp.sum(p**2) - 0.5 * jnp.sum(p0**2)
        acc = jnp.log(jax.random.uniform(k2)) < jnp.nan_to_num(-dh, nan=-jnp.inf)
        return (jnp.where(acc, x, x0), jnp.where(acc, e, e0), jnp.where(acc, g, g0), v)

    c = math.exp(-friction * lam)

    def kinetic(s, key):
        x, _, g, v = s
        v = v - 0.5 * lam * g
        x = x + 0.5 * lam * v
        v = c * v + math.sqrt(1 - c * c) * jax.random.normal(key, x.shape)
        x = x + 0.5 * lam * v
        e, g = eg(x)
        return (x, e, g, v - 0.5 * lam * g)

    return {"ula": ula, "mala": mala, "hmc": hmc, "kinetic": kinetic}[sampler]


def own_run(row: dict, energy, x0):
    step = jax.vmap(own_step(row["sampler"], energy, row["step_size"], row["n_leapfrog"], row["friction"]))
    e0, g0 = jax.vmap(jax.value_and_grad(energy))(x0)
    state = (x0, e0, g0, jnp.zeros_like(x0))

    def run(state, key):
        def body(s, k):
            return step(s, jax.random.split(k, x0.shape[0])), None

        return lax.scan(body, state, jax.random.split(key, row["steps"]))[0][0]

    return jax.jit(run), (state, jax.random.PRNGKey(0))


def blackjax_run(row: dict, energy, x0):
    import blackjax

    logdensity = lambda x: -energy(x)  # noqa: E731
    lam, sampler = row["step_size"], row["sampler"]
    if sampler == "ula":
        kernel = blackjax.sgld(lambda x, _: jax.grad(logdensity)(x))
        state = x0
        step = jax.vmap(lambda x, k: kernel.step(k, x, None, lam, 1.0))
    elif sampler in ("mala", "hmc"):
        if sampler == "mala":
            kernel = blackjax.mala(logdensity, lam)
        else:
            kernel = blackjax.hmc(logdensity, lam, jnp.ones(int(np.prod(x0.shape[1:]))), row["n_leapfrog"])
        state = jax.vmap(kernel.init)(x0)
        step = jax.vmap(lambda s, k: kernel.step(k, s)[0])
    else:
        return None

    def run(state, key):
        def body(s, k):
            return step(s, jax.random.split(k, x0.shape[0])), None

        return lax.scan(body, state, jax.random.split(key, row["steps"]))[0]

    return jax.jit(run), (state, jax.random.PRNGKey(0))


def measure(fn, args, repeats: int, clock: str = "wall") -> dict:
    """Median seconds of the compiled run; ``clock="cpu"``: this process's CPU time (all of XLA's threads)."""
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))
    now = time.process_time if clock == "cpu" else time.perf_counter
    runs = []
    for _ in range(repeats):
        start = now()
        jax.block_until_ready(compiled(*args))
        runs.append(now() - start)
    return {"median": statistics.median(runs), "low": min(runs), "high": max(runs), "compile_s": compile_s}


def main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    try:
        import blackjax

        have_blackjax = True
    except Exception:  # not installed, or not importable with this jax
        have_blackjax = False
    results, clock = [], spec.get("clock", "wall")
    for row in spec["rows"]:
        folder = Path(spec["arrays"]) / row["energy"]
        w = {p.stem: jnp.asarray(np.load(p, allow_pickle=False)) for p in folder.glob("*.npy")}
        x0 = jnp.asarray(np.load(folder.parent / f"x0_{row['energy']}_{row['chains']}.npy", allow_pickle=False))
        energy = energy_fn(row["energy"], w)
        out = {"key": row["key"], "jax": measure(*own_run(row, energy, x0), spec["repeats"], clock)}
        if have_blackjax:
            bj = blackjax_run(row, energy, x0)
            out["blackjax"] = measure(*bj, spec["repeats"], clock) if bj is not None else None
        results.append(out)
        print(json.dumps(out), flush=True)
    payload = {
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "blackjax": have_blackjax,
        "clock": clock,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "rows": results,
    }
    if have_blackjax:
        import blackjax

        payload["blackjax_version"] = blackjax.__version__
    Path(out_path).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
