"""JAX peer of benchmarks/samplers_user.py: the same energies and samplers as ``jit(lax.scan(vmap(step)))``.

Run by samplers_user.py in a subprocess with a Python that has ``jax`` (and optionally ``blackjax``). SPEC holds
the rows, settings and a directory of ``.npy`` weight arrays (read with ``allow_pickle=False``). Two ways:

* ``python jax_peer.py SPEC.json OUT.json`` (``--peers after``): for each row the compile time (lower + compile,
  separately) and the median time of ``repeats`` runs after one warm-up run;
* ``python jax_peer.py --serve SPEC.json`` (``--peers interleaved``, benchmarks/peers.py): one JSON line per request
  read from stdin: ``prepare KEY`` compiles row KEY's peers and runs each once (replies the compile seconds), ``time
  KEY`` times one run of each (replies the seconds), so samplers_user.py can time them between its own repeats.
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


def compiled_warm(fn, args) -> tuple:
    """``(compiled, compile seconds)``: lowered, compiled and run once untimed."""
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))
    return compiled, compile_s


def time_once(compiled, args, clock: str = "wall") -> float:
    """Seconds of one run; ``clock="cpu"``: this process's CPU time (all of XLA's threads)."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    start = now()
    jax.block_until_ready(compiled(*args))
    return now() - start


def measure(fn, args, repeats: int, clock: str = "wall") -> dict:
    """Median seconds of the compiled run over ``repeats`` runs, and the compile seconds."""
    compiled, compile_s = compiled_warm(fn, args)
    runs = [time_once(compiled, args, clock) for _ in range(repeats)]
    return {"median": statistics.median(runs), "low": min(runs), "high": max(runs), "compile_s": compile_s}


def have_blackjax() -> bool:
    try:
        import blackjax  # noqa: F401

        return True
    except Exception:  # not installed, or not importable with this jax
        return False


def load_row(spec: dict, row: dict):
    """The row's per-chain energy and starting points, from SPEC's arrays."""
    folder = Path(spec["arrays"]) / row["energy"]
    w = {p.stem: jnp.asarray(np.load(p, allow_pickle=False)) for p in folder.glob("*.npy")}
    x0 = jnp.asarray(np.load(folder.parent / f"x0_{row['energy']}_{row['chains']}.npy", allow_pickle=False))
    return energy_fn(row["energy"], w), x0


def versions(blackjax_ok: bool, clock: str) -> dict:
    out = {"jax": jax.__version__, "backend": jax.default_backend(), "blackjax": blackjax_ok, "clock": clock,
           "xla_flags": os.environ.get("XLA_FLAGS", "")}  # fmt: skip
    if blackjax_ok:
        import blackjax

        out["blackjax_version"] = blackjax.__version__
    return out


def serve(spec_path: str) -> int:
    """``--serve``: answer ``prepare KEY`` / ``time KEY`` lines from stdin, one JSON line each (module doc)."""
    spec = json.loads(Path(spec_path).read_text())
    clock, blackjax_ok = spec.get("clock", "wall"), have_blackjax()
    rows = {row["key"]: row for row in spec["rows"]}
    print(json.dumps(versions(blackjax_ok, clock)), flush=True)
    ready: dict[str, tuple] = {}  # peer name -> (compiled run, its arguments) of the last prepared row
    compile_s: dict[str, float] = {}
    for line in sys.stdin:
        command, key = line.split()
        row = rows[int(key)]
        if command == "prepare":
            energy, x0 = load_row(spec, row)
            runs = {"jax": own_run(row, energy, x0), "blackjax": blackjax_run(row, energy, x0) if blackjax_ok else None}
            ready, compile_s = {}, {}
            for name, run in runs.items():
                if run is not None:
                    fn, args = run
                    compiled, compile_s[name] = compiled_warm(fn, args)
                    ready[name] = (compiled, args)
            reply = {"key": row["key"], "compile_s": compile_s}
        elif command == "time":
            reply = {
                "key": row["key"],
                "seconds": {name: time_once(c, args, clock) for name, (c, args) in ready.items()},
            }
        else:
            raise SystemExit(f"jax_peer --serve: unknown request {line.strip()!r}")
        print(json.dumps(reply), flush=True)
    return 0


def main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    results, clock, blackjax_ok = [], spec.get("clock", "wall"), have_blackjax()
    for row in spec["rows"]:
        energy, x0 = load_row(spec, row)
        out = {"key": row["key"], "jax": measure(*own_run(row, energy, x0), spec["repeats"], clock)}
        if blackjax_ok:
            bj = blackjax_run(row, energy, x0)
            out["blackjax"] = measure(*bj, spec["repeats"], clock) if bj is not None else None
        results.append(out)
        print(json.dumps(out), flush=True)
    Path(out_path).write_text(json.dumps(versions(blackjax_ok, clock) | {"rows": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[2]) if sys.argv[1] == "--serve" else main(*sys.argv[1:3]))
