"""Markdown tables of docs/rate_distortion.md from docs/results_rd_*.json (no numbers typed by hand).

PYTHONPATH=src python experiments/rd_tables.py           # every table but the 40-D section's
PYTHONPATH=src python experiments/rd_tables.py --forty   # the 40-D section's two tables
PYTHONPATH=src python experiments/rd_tables.py --laplace # the Laplace mixture table (results_rd_laplace_mixture_{lo,hi})
PYTHONPATH=src python experiments/rd_tables.py --lower TAG # the table of results_rd_lower_search<TAG>.json
PYTHONPATH=src python experiments/rd_tables.py --per-run NAME   # one row per run of results_rd_NAME.json
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
SECTIONS = (
    "scalar_ba",
    "scalar_eba",
    "scalar_eba_const",
    "scalar",
    "2d_ba",
    "2d",
    "10d",
    "10d_w",
    "10d_eba",
    "scalar_ba_w",
    "2d_ba_w",
    "40d",
    "bernoulli",
    "slope",
    "slope_ba_s0",
    "slope_ba_s1",
)


def pm(v: list[float], scale: float = 1.0, fmt: str = "{:+.2f}") -> str:
    return f"{fmt.format(v[0] * scale)} ± {abs(v[1]) * scale:.2f}"


def _ms(v: list[float]) -> list[float]:
    return [statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0]


def _variances(r: dict) -> list[float] | None:
    """The source's variances of a run: the 10-D section's, or unit (scalar, slope) for 1-D runs."""
    d = len(r["cond_var"])
    return [4 * math.exp(-0.5 * k) for k in range(10)] if d == 10 else [1.0, 0.5] if d == 2 else None


def _l_rd_se(r: dict, variances: list[float] | None = None) -> float:
    """SE of L_RD = −mean_y ln Z_φ(y) itself over the 50 000 fixed y (source variances ``variances``, default
    unit), at the run's final marginal."""
    import torch

    from ebmlab.ratedistortion import GaussianSource, gaussian_marginal_terms

    v, beta = torch.tensor(r["cond_var"], dtype=torch.float64), r["beta"]
    y = GaussianSource(variances or [1.0] * len(v)).sample(50_000, torch.Generator().manual_seed(999))
    per_y = -gaussian_marginal_terms(torch.tensor(r["marg_loc"]).double(), v / (1 - 2 * beta * v), beta)(y)[0]
    return float(per_y.std() / math.sqrt(len(per_y)))


def section(name: str) -> None:
    path = DOCS / f"results_rd_{name}.json"
    if not path.exists():
        print(f"\n({name}: not run)\n")
        return
    res = json.loads(path.read_text())
    if "command" in res:
        how = f"`{res['command']}`; {res.get('steps')} steps, {res.get('chains')} chains"
    else:
        how = (
            f"`python experiments/rd_gaussian.py {name.split('_')[0]} ...` at commit 947fb7d, before the burn-in, "
            f"source start and Polyak average: {res.get('steps')} steps, 512 chains"
        )
    print(f"\n**{name}** ({how})\n")
    print(
        "| variant | β | R(β) closed form (nats) | ΔD/D* (%) | ΔR at matched D (nats ×10³) | ΔR/R (%) | closed form in band | band width (nats) | s per run |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in res["summary"]:
        print(
            f"| {r['variant']} | {r['beta']:g} | {r['rate_closed_form_at_beta']:.4f} | {pm(r['d_rel_err'], 100)} | "
            f"{pm(r['r_err_matched_d'], 1000, '{:+.1f}')} | {pm(r['r_rel_err_matched_d'], 100)} | "
            f"{'yes' if r['inside_band'] else 'NO'} ({r['n_seeds']} seeds) | {pm(r['band_width'], 1, '{:.3f}')} | {r['seconds'][0]:.0f} |"
        )
    if name in ("10d", "10d_w", "10d_eba", "40d"):
        print("\nLearned conditional vs the closed-form optimal one (active components; mean ± sd over seeds):\n")
        print(
            "| variant | β | active | max abs. Δ mean map | max rel. Δ cond. variance (%) | largest switched-off s² |"
        )
        print("|---|---|---|---|---|---|")
        for key in sorted({(r["variant"], r["beta"]) for r in res["runs"]}):
            rs = [r for r in res["runs"] if (r["variant"], r["beta"]) == key]
            act = [k for k, m in enumerate(rs[0]["mean_map_closed_form"]) if m > 0]
            off = [k for k in range(len(rs[0]["mean_map_closed_form"])) if k not in act]
            dm = [max(abs(r["mean_map"][k] - r["mean_map_closed_form"][k]) for k in act) for r in rs]
            dv = [max(abs(r["cond_var"][k] / r["cond_var_closed_form"][k] - 1) for k in act) for r in rs]
            s2 = [max((r["cond_var"][k] / (1 - 2 * key[1] * r["cond_var"][k]) for k in off), default=0.0) for r in rs]
            print(
                f"| {key[0]} | {key[1]:g} | {len(act)} | {pm(_ms(dm), 1, '{:.4f}')} | {pm(_ms(dv), 100, '{:.1f}')} "
                f"| {max(s2):.2g} |"
            )
    for s in res.get("slopes", []):
        print(
            f"\nseed {s['seed']}: dR/dD = {s['slope']:.3f} vs −β = {s['minus_beta']:.2f} "
            f"({100 * s['rel_err']:+.1f} %); largest L_RD increase over 10 steps {s['max_l_rd_increase_per_10_steps']:.2e} nats"
        )
    traces = [r for r in res["runs"] if r.get("l_rd_trace") and len(r["l_rd_trace"][0]) == 3]
    if traces:
        print("\nL_RD(φ_t) at checkpoints every 10 steps (exact in φ, 50 000 fixed y); per run:\n")
        print(
            "| β | seed | increases / checkpoints | largest increase after step 100 (nats) | its paired SE "
            "| largest after step 300 | SE of L_RD itself |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in traces:
            tr = r["l_rd_trace"]
            inc = [(b[1] - a[1], b[2], b[0]) for a, b in itertools.pairwise(tr)]
            big = max(i for i in inc if i[2] > 100)
            late = max(i[0] for i in inc if i[2] > 300)
            print(
                f"| {r['beta']:g} | {r['seed']} | {sum(i[0] > 0 for i in inc)} / {len(inc)} | {big[0]:.1e} | "
                f"{big[1]:.1e} | {late:.1e} | {_l_rd_se(r, _variances(r)):.1e} |"
            )


def per_run_table(name: str) -> None:
    """One row per run: the learned marginal's exact ΔD and ΔR (runs since session 7: closed form, no Monte Carlo),
    the evaluated ones, the band."""
    from ebmlab.ratedistortion import gaussian_rate_at

    res = json.loads((DOCS / f"results_rd_{name}.json").read_text())
    print(f"\n**{name}** (`{res['command']}`)\n")
    print(
        "| β | seed | ΔD/D* exact (%) | ΔD/D* evaluated (%) | ΔR at matched D, exact / evaluated (nats ×10³) "
        "| [lower, upper] (nats) | R(D̂) | in band |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in res["runs"]:
        d_star = r["distortion_closed_form"]
        exact, r_exact = "–", "–"
        if "distortion_exact" in r:
            exact = f"{100 * (r['distortion_exact'] / d_star - 1):+.2f}"
            r_exact = (
                f"{1000 * (r['rate_exact'] - gaussian_rate_at(_variances(r) or [1.0], r['distortion_exact'])):+.3f}"
            )
        inside = r["rate_lower"] <= r["rate_closed_form"] <= r["rate_upper"]
        print(
            f"| {r['beta']:g} | {r['seed']} | {exact} | {100 * (r['distortion'] / d_star - 1):+.2f} | "
            f"{r_exact} / {1000 * (r['rate'] - r['rate_closed_form']):+.2f} | "
            f"[{r['rate_lower']:.4f}, {r['rate_upper']:.4f}] | {r['rate_closed_form']:.4f} | {'yes' if inside else 'NO'} |"
        )


def monotone(r: dict, warmup: int = 100, z: float = 2.0) -> dict:
    """The theorem's test on one run's trace: after ``warmup`` steps, no increase of L_RD(φ_t) between logged
    points (every 10 steps) larger than ``z`` SE, SE = the Monte Carlo SE of L_RD on the 50 000 fixed y (the
    error of measuring it). Also the largest increase of L_RD exact in y (closed form: no Monte Carlo at all)."""
    se = _l_rd_se(r, _variances(r))
    mc = [(b[1] - a[1], b[0]) for a, b in itertools.pairwise(r["l_rd_trace"]) if b[0] > warmup]
    exact = [(b[3] - a[3], b[0]) for a, b in itertools.pairwise(r.get("param_trace") or []) if b[0] > warmup]
    big = max(mc)
    return {
        "se": se,
        "max_increase": big[0],
        "at_step": big[1],
        "max_increase_exact": max(exact)[0] if exact else None,
        "holds": big[0] <= z * se,
    }


def monotone_table(name: str) -> None:
    res = json.loads((DOCS / f"results_rd_{name}.json").read_text())
    print(f"\n**{name}: L_RD(φ_t) non-increasing within 2 SE after step 100** (every 10 steps)\n")
    print("| β | seed | largest increase (nats) | at step | SE of L_RD | holds | largest increase, exact in y |")
    print("|---|---|---|---|---|---|---|")
    for r in res["runs"]:
        t = monotone(r)
        ex = "–" if t["max_increase_exact"] is None else f"{t['max_increase_exact']:.1e}"
        print(
            f"| {r['beta']:g} | {r['seed']} | {t['max_increase']:.1e} | {t['at_step']} | {t['se']:.1e} | "
            f"{'yes' if t['holds'] else 'NO'} | {ex} |"
        )


def lower_search_table(tag: str = "") -> None:
    """The lower bound of ``evaluate_eba`` against its closed form (experiments/rd_lower_search.py)."""
    path = DOCS / f"results_rd_lower_search{tag}.json"
    if not path.exists():
        return
    res = json.loads(path.read_text())
    sound = "n_sound" in res
    print(f"\n**lower bound vs closed form** (`{res['command']}`, marginals of results_rd_{res['results']}.json)\n")
    print(
        "| β | seed | lower − 2 SE (nats) | best exact lower over the widenings | R(D̂) | valid | "
        "ln sup c found ± SE | widenings judged bounded / exactly bounded |"
        + (" exact lower, same r and D̂ | sound |" if sound else "")
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|---|" if sound else ""))
    for r in res["runs"]:
        ok = "".join("✓" if w["judged_bounded"] else "·" for w in r["widenings"])
        fin = "".join("✓" if math.isfinite(w["log_sup_exact"]) else "·" for w in r["widenings"])
        print(
            f"| {r['beta']:g} | {r['seed']} | {r['lower_reported']:.4f} | {r['lower_best_exact']:.4f} | "
            f"{r['rate_true_at_d_hat']:.4f} | {'yes' if r['valid'] else 'NO'} | "
            f"{r['log_sup_found']:.3f} ± {r['log_sup_found_se']:.3f} | {ok} / {fin} |"
            + (f" {r['lower_exact_chosen']:.4f} | {'yes' if r['sound'] else 'NO'} |" if sound else "")
        )
    print(
        f"\n{res['n_valid']}/{len(res['runs'])} valid, {res['n_nontrivial']} non-trivial"
        + (f", {res['n_sound']} sound (≤ the exact bound of the same r)" if sound else "")
        + "; tail check right on "
        f"{res['n_judged_right']}/{res['n_widenings']} (run, widening) pairs (widenings ×1, 1.02, 1.1, 1.3, 2)."
    )


FORTY = ("40d_b1", "40d_b1_s2", "40d_b30", "40d_b30_s2", "40d_b1000", "40d_b1000_s2")


def forty_d_bounds_table() -> None:
    """The 40-D runs' bounds (as stored: re-evaluated with the current search) against the closed forms: R(D̂),
    and Csiszár's lower bound of the widening the search chose, exact (``dual_gaussian``)."""
    import torch

    from ebmlab.ratedistortion.dual_gaussian import gaussian_dual_terms

    variances = [4 * math.exp(-k) for k in range(40)]
    print(
        "\n**40-D bounds** (`python experiments/rd_gaussian.py 40d --tag TAG --reevaluate`, TAG = _b1, _b1_s2, ...)\n"
    )
    print(
        "| β | seed | lower − 2 SE | exact lower (same r, same D̂) | R(D̂) | R̂ | upper + 2 SE | valid | sound "
        "| R(D̂) in band | ln sup c found ± SE | exact | widening | held-out ESS |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in FORTY:
        path = DOCS / f"results_rd_{name}.json"
        if not path.exists():
            continue
        for r in json.loads(path.read_text())["runs"]:
            beta, v = r["beta"], torch.tensor(r["cond_var"], dtype=torch.float64)
            loc, var = torch.tensor(r["marg_loc"], dtype=torch.float64), v / (1 - 2 * beta * v)
            w = float(r["search"].rsplit("r widened x", 1)[1]) if "r widened x" in r["search"] else 1.0
            ex = gaussian_dual_terms(variances, loc, var * w, beta)
            ex_lower = -beta * r["distortion"] - ex["mean_log_z"] - ex["log_sup"]  # the same r, at the same D̂
            ess = r["search"].split("held-out ESS ")[1].split(";")[0] if "held-out ESS" in r["search"] else "–"
            trivial = r["rate_lower"] <= 0
            low = "0 (" + ("not estimable" if "not estimable" in r["search"] else "trivial") + ")" if trivial else None
            print(
                f"| {beta:g} | {r['seed']} | {low or format(r['rate_lower'], '.3f')} | "
                f"{format(ex_lower, '.3f') if math.isfinite(ex_lower) else '– (sup c = ∞)'} | "
                f"{r['rate_closed_form']:.3f} | {r['rate']:.3f} | {r['rate_upper']:.3f} | "
                f"{'yes' if r['rate_lower'] <= r['rate_closed_form'] else 'NO'} | "
                f"{'yes' if trivial or r['rate_lower'] <= ex_lower else 'NO'} | "
                f"{'yes' if r['rate_lower'] <= r['rate_closed_form'] <= r['rate_upper'] else 'NO'} | "
                f"{r['log_sup']:.3f} ± {r['log_sup_se']:.3f} | {ex['log_sup']:.3f} | ×{w:g} | {ess} |"
            )


def forty_d_summary_table() -> None:
    """The 40-D runs per β (three seeds over the FORTY files): accuracy at matched D and the learned conditional."""
    runs = [r for n in FORTY if (DOCS / f"results_rd_{n}.json").exists() for r in _runs(n)]
    print(
        "\n| β | active comps | R(β) (nats) | seeds | ΔD/D* (%) | R̂ (nats) | R(D̂) (nats) | ΔR (nats) | rate error at "
        "matched D (%) | band [lower, upper] (nats) | mean map max err (active) | cond. var max rel err (active) "
        "| largest switched-off s² | s per run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for beta in sorted({r["beta"] for r in runs}):
        rs = sorted((r for r in runs if r["beta"] == beta), key=lambda r: r["seed"])
        act = [k for k, m in enumerate(rs[0]["mean_map_closed_form"]) if m > 0]
        off = [k for k in range(40) if k not in act]
        rel = [(r["rate"] - r["rate_closed_form"]) / r["rate_closed_form"] for r in rs]
        lows = [r["rate_lower"] for r in rs]
        dm = max(max(abs(r["mean_map"][k] - r["mean_map_closed_form"][k]) for k in act) for r in rs)
        dv = max(max(abs(r["cond_var"][k] / r["cond_var_closed_form"][k] - 1) for k in act) for r in rs)
        s2 = max(max(r["cond_var"][k] / (1 - 2 * beta * r["cond_var"][k]) for k in off) for r in rs)
        sec = [r["seconds"] for r in rs]
        print(
            f"| {beta:g} | {len(act)} | {rs[0]['rate_at_beta_closed_form']:.3f} | {len(rs)} "
            f"({', '.join(str(r['seed']) for r in rs)}) | "
            f"{pm(_ms([r['distortion'] / r['distortion_closed_form'] - 1 for r in rs]), 100)} | "
            f"{statistics.mean(r['rate'] for r in rs):.3f} | {statistics.mean(r['rate_closed_form'] for r in rs):.3f} | "
            "{:+.3f} ± {:.3f} | ".format(*_ms([r["rate"] - r["rate_closed_form"] for r in rs]))
            + f"**{pm(_ms(rel), 100)}** ({', '.join(f'{100 * x:+.2f}' for x in rel)}) | "
            f"[{', '.join(f'{x:.2f}' for x in lows)}; {max(r['rate_upper'] for r in rs):.2f}]; "
            f"non-trivial in {sum(x > 0 for x in lows)}/{len(rs)} | {dm:.3f} | {100 * dv:.0f} % | {s2:.1e} | "
            f"{min(sec):.0f}–{max(sec):.0f} |"
        )


def _runs(name: str) -> list[dict]:
    return json.loads((DOCS / f"results_rd_{name}.json").read_text())["runs"]


def eval_noise_table(name: str = "scalar_eba") -> None:
    """Evaluation vs training noise of D̂ (experiments/rd_eval_noise.py)."""
    path = DOCS / f"results_rd_eval_noise_{name}.json"
    if not path.exists():
        return
    res = json.loads(path.read_text())
    print(f"\n**evaluation vs training noise** (`{res['command']}`, models of results_rd_{name}.json)\n")
    print(
        "| seed | ΔD/D* as stored (200 000 y) | exact ΔD/D* of the learned r | 3 other evaluations at 200 000 y "
        "| with SE(D̂)/D̂ ≤ 1e-3 | ΔR at matched D, exact (nats) | the same, evaluated |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in res["runs"]:
        others = ", ".join(f"{100 * x:+.2f}" for x in r["d_rel_200k"])
        print(
            f"| {r['seed']} | {100 * r['d_rel_stored']:+.2f} % | {100 * r['d_rel_exact']:+.2f} % | {others} % | "
            f"{100 * r['d_rel_precise']:+.2f} % | {r['r_err_exact']:+.1e} | {r['r_err_precise']:+.1e} |"
        )
    print(
        f"\nsd over evaluation seeds at 200 000 y (mean over runs): {100 * res['sd_over_eval_seeds_200k_mean']:.2f} %; "
        f"sd of the exact ΔD/D* over runs (training): {100 * res['sd_exact_over_runs']:.2f} %."
    )


def figures() -> None:
    """Redraw docs/figures/rd_<section>.png (seed 0) from the stored results."""
    import importlib.util

    from ebmlab.cli.rd import plot_rd
    from ebmlab.ratedistortion import BernoulliSource, GaussianSource

    spec = importlib.util.spec_from_file_location("rd_gaussian", Path(__file__).with_name("rd_gaussian.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in SECTIONS:
        path = DOCS / f"results_rd_{name}.json"
        if not path.exists():
            continue
        runs = json.loads(path.read_text())["runs"]
        first = [r for r in runs if r["seed"] == runs[0]["seed"] and r["variant"] == runs[0]["variant"]]
        src = BernoulliSource(0.3) if name == "bernoulli" else GaussianSource(mod.SECTIONS[name.split("_")[0]][0])
        plot_rd(first, src, "hamming" if name == "bernoulli" else "squared", DOCS / "figures" / f"rd_{name}.png")


def laplace_mixture_table(tags: tuple[str, ...] = ("_lo", "_hi")) -> None:
    """The Laplace-source EBA table (mixture marginal): per β, mean ± sd over seeds, against R(D̂) = −ln(D̂/b)."""
    runs = [r for t in tags for r in json.loads((DOCS / f"results_rd_laplace_mixture{t}.json").read_text())["runs"]]
    print(
        "| β | D̂ | ΔD vs D* = 1/β | R̂ (nats) | R(D̂) = −ln(D̂/b) | **rate error at matched D** |"
        " band [lower, upper] (nats) | closed form in band | atom weight: learned (closed form) | narrow width |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for beta in sorted({r["beta"] for r in runs if r["energy"] == "mixture"}):
        rs = sorted((r for r in runs if r["energy"] == "mixture" and r["beta"] == beta), key=lambda r: r["seed"])

        def col(f: str, rs: list[dict] = rs) -> list[float]:
            return _ms([r[f] for r in rs])

        widths = [r["scales"][1] for r in rs]
        atoms = ", ".join(f"{r['weights'][1]:.2f}" for r in rs)

        def fm(f: str, digits: int, scale: float = 1.0, sign: str = "") -> str:
            m, sd = col(f)
            return f"{m * scale:{sign}.{digits}f} ± {sd * scale:.{digits}f}"

        dd = 3 if beta < 3 else 4
        print(
            f"| {beta:g} | {fm('distortion', dd)} | {fm('rel_err_distortion', 2, 100, '+')} % "
            f"| {fm('rate', 3)} | {fm('rate_closed_form', 3)} | **{fm('rel_err_rate', 2, 100, '+')} %** "
            f"| [{fm('rate_lower', 2)}, {col('rate_upper')[0]:.3f}] | {sum(r['in_band'] for r in rs)}/{len(rs)} "
            f"| {atoms} ({rs[0]['atom_weight_closed_form']:.3g}) | {min(widths):.2f}–{max(widths):.2f} |"
        )


def main() -> None:
    import sys

    if sys.argv[1:] == ["--forty"]:  # the 40-D section's tables (docs/rate_distortion.md, 40-D Gaussian)
        forty_d_summary_table()
        forty_d_bounds_table()
        return
    if sys.argv[1:2] == ["--per-run"]:  # e.g. --per-run scalar_eba_const: one row per run
        per_run_table(sys.argv[2])
        return
    if sys.argv[1:] == ["--laplace"]:  # the Laplace section's EBA table (mixture marginal)
        laplace_mixture_table()
        return
    if sys.argv[1:2] == ["--lower"]:  # one results_rd_lower_search<TAG>.json as a table
        lower_search_table(sys.argv[2])
        return
    figures()
    for name in SECTIONS:
        section(name)
    for name in ("10d", "10d_w"):
        if (DOCS / f"results_rd_{name}.json").exists():
            monotone_table(name)
    lower_search_table()
    lower_search_table("_w")
    lower_search_table("_s6")
    lower_search_table("_w_s6")
    eval_noise_table()
    lap = DOCS / "results_rd_laplace.json"
    if lap.exists():
        res = json.loads(lap.read_text())
        print(
            f"\n**laplace** ({res['method']})\n\n| β | D | R (BA) | R(D) closed form | rel. err (%) |\n|---|---|---|---|---|"
        )
        for p, e in zip(res["points"], res["rel_err_matched_d"], strict=True):
            print(
                f"| {p['beta']:g} | {p['distortion']:.4f} | {p['rate']:.4f} | {p['rate_closed_form']:.4f} | {100 * e:+.2f} |"
            )
    _ = math


if __name__ == "__main__":
    main()
