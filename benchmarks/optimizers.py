"""Time for each optimizer to reach a relative loss gap of 1e-6, against lstsq and scikit-learn.

    python benchmarks/optimizers.py            # n in {1e3, 1e5, 1e6} x d in {10, 100}, ~10 min
    python benchmarks/optimizers.py --quick    # n in {1e3, 1e5} x d in {10, 100}, < 1 min

Data: a seeded synthetic regression per (n, d): ``X = Z M`` with Z standard normal and M of
singular values log-spaced over [1, 10] (cond(X^T X) ~ 100 before standardization), columns
standardized (mean 0, std 1, as the pipeline solves them), ``y = X w_true + noise`` then
standardized; no intercept (so every method solves the same problem). X is float64 C-contiguous.

Each full-batch variant is timed end to end the way the pipeline runs it: ``gram_stats`` (one
pass over X, + the residual pass for f_ls) + the objective + its learning rate (from L, mu) +
``solve`` until the relative gap ``(f - f*)/f*`` is <= 1e-6, f* from ``exact_optimum`` (computed
untimed). The number of steps is found by an untimed calibration run whose per-step losses are
traced; the timed run then stops at exactly that step (``max_iter``; ``tol = gtol = 0``), so the
time is that of reaching the gap, not of a stopping rule. Sampled variants run a bounded budget
and report the gap they reached: minibatch (batch 1024, inverse-time decay, up to a few epochs,
its time per epoch in the note) and sgd (batch 1, at most 20 000 steps). At n = 1e3 a batch of
1024 is the full batch (the solver then runs full-batch GD). References, timed in the same run:
``numpy.linalg.lstsq``, ``LinearRegression(fit_intercept=False)``, ``SGDRegressor`` (no penalty;
schedule/eta0/averaging tuned by a small untimed grid for the best gap on the n = 1e3 cell of
the same d, reused at larger n; 100/10/3 epochs at n = 1e3/1e5/1e6), and for context the normal
equations ``np.linalg.solve(X.T@X, X.T@y)``. Step sizes: gd, proximal, fista, ridge-gd 1/L;
momentum Polyak's optimal (lr, beta) from (L, mu); nesterov 1/L with beta = (sqrt(kappa)-1)/
(sqrt(kappa)+1); adagrad/rmsprop/adam (lr, exponential decay) from a small untimed grid on the
n = 1e3 cell of each d (re-tuned on a cell where that choice misses the gap); newton lr 1.

Timings are the median of 3 repeats (of 5 when one run takes < 0.1 s). One repeat for: sgd
(20 000 steps), minibatch and SGDRegressor at n = 1e6, every row of the n = 1e6 x d = 100 cell
(X is 800 MB) and, with --quick, of the n = 1e5 x d = 100 cell. Then three checks at n = 1e6,
d = 10 (with --quick, informative only, at n = 1e5, d = 10): full-batch variants <= 0.5x lstsq;
one mini-batch epoch (batch 1024, through ``solve``, with its per-step Gram-form loss) <= 5x one
pass ``X.T @ (X @ w)`` (measured interleaved; the fixed parts of the epoch are printed too);
peak traced memory (tracemalloc) of gram_stats + solve <= 1.5x X.nbytes.
The machine's load average is printed before and after: other processes inflate every number.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descent import objective as obj
from descent.optim.aliases import make_optimizer
from descent.optim.schedules import make_schedule
from descent.optim.solver import solve

GAP = 1e-6
SEED = 0
L1 = 1e-3  # small L1 weight (standardized units) for proximal / fista
L2 = 1e-2  # ridge weight for ridge-gd
BATCH = 1024
SGD_STEPS = 20_000
FULL_BUDGET = 20_000  # calibration budget of steps for full-batch variants
FULL_BATCH = (
    "gd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "newton",
    "proximal",
    "fista",
    "ridge-gd",
)
TARGET_N, TARGET_D = 10**6, 10


# --- data ------------------------------------------------------------------------------------


def make_data(n: int, d: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, moderately conditioned, noisy, standardized regression data (float64, C order)."""
    rng = np.random.default_rng([seed, n, d])
    u, _ = np.linalg.qr(rng.standard_normal((d, d)))
    v, _ = np.linalg.qr(rng.standard_normal((d, d)))
    M = (u * np.geomspace(1.0, 10.0, d)) @ v.T
    X = rng.standard_normal((n, d)) @ M
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    y = X @ rng.standard_normal(d) + 0.5 * np.sqrt(d) * rng.standard_normal(n)
    y -= y.mean()
    y /= y.std()
    return np.ascontiguousarray(X), y


# --- timing helpers ---------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls (5 if ``repeats`` is 3 and a call takes < 0.1 s,
    for robustness to load bursts at no real cost), and the last result."""
    times, out = [], None
    while len(times) < repeats:
        gc.collect()
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
        if repeats == 3 and times[0] < 0.1:
            repeats = 5
    return statistics.median(times), out


@dataclass
class Row:
    n: int
    d: int
    name: str
    seconds: float
    gap: float
    steps: str = ""
    note: str = ""
    full_batch: bool = False
    ratio: float = math.nan


@dataclass
class Cell:
    """One (n, d) problem: data, the exact optima (untimed) and the rows measured on it."""

    n: int
    d: int
    X: np.ndarray
    y: np.ndarray
    stats: obj.GramStats
    rows: list[Row] = field(default_factory=list)
    optimum: dict[str, tuple[obj.LeastSquares, float]] = field(default_factory=dict)

    def problem(self, stats: obj.GramStats, penalty: str) -> obj.LeastSquares:
        l1 = L1 if penalty == "l1" else None
        l2 = L2 if penalty == "l2" else None
        return obj.LeastSquares(self.X, self.y, l1_weights=l1, l2_weights=l2, gram_stats=stats)

    def f_star(self, penalty: str) -> tuple[obj.LeastSquares, float]:
        if penalty not in self.optimum:
            prob = self.problem(self.stats, penalty)
            w_star, _ = obj.exact_optimum(self.stats, prob.l1_weights, prob.l2_weights)
            self.optimum[penalty] = (prob, float(prob.value(w_star)))
        return self.optimum[penalty]

    def gap(self, w: np.ndarray, penalty: str = "none") -> float:
        prob, f_star = self.f_star(penalty)
        return (float(prob.value(w)) - f_star) / f_star


# --- the variants -----------------------------------------------------------------------------


def penalty_of(name: str) -> str:
    return {"proximal": "l1", "fista": "l1", "ridge-gd": "l2"}.get(name, "none")


def build(name: str, prob: obj.LeastSquares, lr: float | None = None, decay: float = 0.0):
    """The optimizer of a variant, its learning rate from L and mu as a tuned user would set it."""
    L = prob.lipschitz()
    if name in ("gd", "ridge-gd", "proximal", "fista"):
        optimizer = {"ridge-gd": "gd"}.get(name, name)
        return make_optimizer(optimizer, learning_rate=1.0 / L, objective=prob)
    if name in ("momentum", "nesterov"):
        mu = prob.strong_convexity()
        root = math.sqrt(L / mu)
        if name == "momentum":  # Polyak's optimal heavy ball on a quadratic
            beta = ((root - 1) / (root + 1)) ** 2
            lr = 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2
            return make_optimizer("momentum", learning_rate=lr, momentum=beta)
        return make_optimizer("nesterov", learning_rate=1.0 / L, momentum=(root - 1) / (root + 1))
    if name == "newton":
        return make_optimizer("newton", learning_rate=1.0, objective=prob)
    schedule = make_schedule("exponential_decay", lr, rate=decay) if decay else lr
    return make_optimizer(name, learning_rate=schedule)


ADAPTIVE_GRID = {  # (lr, exponential decay per step), searched untimed per cell
    "adagrad": [(lr, 0.0) for lr in (3.0, 1.0, 0.3, 0.1)],
    "rmsprop": [(lr, rate) for lr in (0.03, 0.01, 0.003) for rate in (0.0, 3e-3, 1e-2)],
    "adam": [(lr, rate) for lr in (0.3, 0.1, 0.03) for rate in (0.0, 3e-3, 1e-2)],
}


def steps_to_gap(
    cell: Cell, name: str, lr=None, decay=0.0, budget: int = FULL_BUDGET
) -> tuple[int | None, float]:
    """Untimed calibration: first step whose traced loss is within the gap (None if never).

    Budgets of 256, 512, ... steps up to ``budget`` (the runs are deterministic), so that the
    calibration costs at most about twice the steps it finds.
    """
    penalty = penalty_of(name)
    prob, f_star = cell.f_star(penalty)
    steps = 256
    while True:
        steps = min(steps, budget)
        res = solve(
            prob,
            build(name, prob, lr, decay),
            np.zeros(cell.d),
            max_iter=steps,
            tol=0.0,
            gtol=0.0,
            max_trace=steps + 1,
        )
        gaps = (res.trace["loss"] - f_star) / f_star
        hit = np.flatnonzero(gaps <= GAP)
        if hit.size:
            return int(res.trace["step"][hit[0]]), float(gaps[hit[0]])
        if steps >= budget or res.status == "diverged":
            return None, float(gaps[-1])
        steps *= 2


def tune_adaptive(cell: Cell, name: str, tuned: dict) -> tuple[float, float, int | None, str]:
    """(lr, decay) of the grid reaching the gap in the fewest steps (else the best final gap).

    Tuned on the first (smallest) cell of each d and reused at larger n when it still reaches
    the gap there (else tuned again on that cell).
    """
    if (name, cell.d) in tuned:
        lr, decay, at = tuned[name, cell.d]
        steps, _ = steps_to_gap(cell, name, lr, decay)
        if steps is not None:
            return lr, decay, steps, at
    best = None
    for lr, decay in ADAPTIVE_GRID[name]:
        steps, last = steps_to_gap(cell, name, lr, decay)
        key = (steps is None, steps if steps is not None else 0, last)
        if best is None or key < best[0]:
            best = (key, lr, decay, steps)
    tuned[name, cell.d] = (best[1], best[2], f"n={cell.n:.0e}")
    return best[1], best[2], best[3], f"n={cell.n:.0e}"


def full_batch_row(cell: Cell, name: str, repeats: int, tuned: dict) -> Row:
    lr, decay, note = None, 0.0, ""
    if name in ADAPTIVE_GRID:
        lr, decay, steps, at = tune_adaptive(cell, name, tuned)
        note = f"lr {lr:g}" + (f", exp decay {decay:g}/step" if decay else "") + f" (tuned {at})"
    else:
        steps, _ = steps_to_gap(cell, name)
    if steps is None:
        steps, note = FULL_BUDGET, (note + "; " if note else "") + "gap not reached"
    penalty = penalty_of(name)

    def end_to_end():
        stats = obj.gram_stats(cell.X, cell.y)
        prob = cell.problem(stats, penalty)
        return solve(
            prob, build(name, prob, lr, decay), np.zeros(cell.d), max_iter=steps, tol=0.0, gtol=0.0
        )

    seconds, res = timed(end_to_end, repeats)
    return Row(
        cell.n,
        cell.d,
        name,
        seconds,
        cell.gap(res.params, penalty),
        str(steps),
        note,
        full_batch=True,
    )


def sampled_row(cell: Cell, name: str, repeats: int) -> Row:
    """minibatch (batch 1024, a few epochs) or sgd (batch 1, <= SGD_STEPS): bounded budgets."""
    prob, _ = cell.f_star("none")
    if name == "sgd":
        batch, budget, what = 1, SGD_STEPS, "steps"
    else:
        batch = BATCH
        epochs = 5 if cell.n >= 10**6 else 20
        budget, what = epochs * math.ceil(cell.n / BATCH), "steps"
    row_curv = float(np.max(np.einsum("ij,ij->i", cell.X, cell.X))) if batch == 1 else 0.0
    lr0 = 0.5 / max(prob.lipschitz(), row_curv)
    decay = 0.01 if batch == 1 else 0.002
    steps = budget

    def run():
        stats = obj.gram_stats(cell.X, cell.y)
        p = cell.problem(stats, "none")
        optimizer = make_optimizer(
            "gd", learning_rate=make_schedule("inverse_time", lr0, decay=decay)
        )
        return solve(
            p, optimizer, np.zeros(cell.d), batch_size=batch, max_iter=steps, tol=0.0, gtol=0.0
        )

    seconds, res = timed(run, repeats)
    if batch >= cell.n:
        note = "batch >= n: full-batch GD"
    else:
        epochs_run = steps * batch / cell.n
        note = f"{epochs_run:.3g} epochs, lr0 {lr0:.3g}/(1+{decay:g}t)"
        if batch == BATCH:
            note += f", {seconds / epochs_run:.3g} s/epoch"
    return Row(cell.n, cell.d, name, seconds, cell.gap(res.params), f"{steps} {what}", note)


# --- references -------------------------------------------------------------------------------


def reference_rows(cell: Cell, repeats: int, sgd_choice: dict) -> list[Row]:
    from sklearn.linear_model import LinearRegression, SGDRegressor

    X, y, n, d = cell.X, cell.y, cell.n, cell.d
    rows = []
    seconds, w = timed(lambda: np.linalg.lstsq(X, y, rcond=None)[0], repeats)
    rows.append(Row(n, d, "numpy lstsq", seconds, cell.gap(w), note="reference (ratio 1)"))
    seconds, w = timed(lambda: np.linalg.solve(X.T @ X, X.T @ y), repeats)
    rows.append(
        Row(
            n, d, "normal eq. (context)", seconds, cell.gap(w), note="np.linalg.solve(X.T@X, X.T@y)"
        )
    )
    seconds, m = timed(lambda: LinearRegression(fit_intercept=False).fit(X, y), repeats)
    rows.append(Row(n, d, "sklearn LinearRegression", seconds, cell.gap(m.coef_)))

    epochs = {10**3: 100, 10**5: 10}.get(n, 3)
    if d not in sgd_choice:  # tune on the first (smaller) cell of this d, reuse it at larger n
        best = None
        for kind, eta0, average in [("invscaling", e, False) for e in (0.03, 0.01, 0.003)] + [
            ("constant", e, True) for e in (0.01, 0.001)
        ]:
            model = _sgd(SGDRegressor, kind, eta0, average, epochs).fit(X, y)
            g = cell.gap(model.coef_)
            if best is None or g < best[0]:
                best = (g, kind, eta0, average)
        sgd_choice[d] = (*best[1:], n)
    kind, eta0, average, tuned_at = sgd_choice[d]
    reps = 1 if n >= 10**6 else repeats
    seconds, m = timed(lambda: _sgd(SGDRegressor, kind, eta0, average, epochs).fit(X, y), reps)
    rows.append(
        Row(
            n,
            d,
            "sklearn SGDRegressor",
            seconds,
            cell.gap(m.coef_),
            f"{epochs} epochs",
            f"tuned at n={tuned_at:.0e}: {kind}, eta0 {eta0:g}" + (", averaged" if average else ""),
        )
    )
    return rows


def _sgd(cls, kind: str, eta0: float, average: bool, epochs: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(
            penalty=None,
            fit_intercept=False,
            learning_rate=kind,
            eta0=eta0,
            average=average,
            max_iter=epochs,
            tol=None,
            shuffle=True,
            random_state=SEED,
        )


# --- the three target checks ------------------------------------------------------------------


def minibatch_epoch(prob: obj.LeastSquares, d: int, lr: float) -> Any:
    """Exactly one epoch of mini-batch GD (batch BATCH) through the solver, from zero."""
    return solve(
        prob,
        make_optimizer("minibatch", learning_rate=lr),
        np.zeros(d),
        batch_size=BATCH,
        max_passes=1.0,
        max_iter=10**9,
        tol=0.0,
        gtol=0.0,
    )


def epoch_vs_pass(cell: Cell) -> dict[str, float]:
    """Medians of one mini-batch epoch through solve and of one pass ``X.T @ (X @ w)``, measured
    interleaved (5 rounds: 3 passes, 1 epoch) so that a change of machine load hits both; plus
    the parts of the epoch that no per-step tuning removes: the epoch's permutation of n rows
    (``default_rng.permutation``) and gathering the 1024-row batches (sorted ``np.take``)."""
    prob, _ = cell.f_star("none")
    lr = 0.5 / prob.lipschitz()
    w = np.ones(cell.d)
    X, y, n = cell.X, cell.y, cell.n

    def epoch():
        return minibatch_epoch(prob, cell.d, lr)

    def gather():
        perm = np.random.default_rng(SEED).permutation(n)
        for start in range(0, n, BATCH):
            rows = np.sort(perm[start : start + BATCH])
            np.take(X, rows, axis=0), np.take(y, rows)

    passes, epochs = [], []
    for _ in range(5):
        passes.append(timed(lambda: X.T @ (X @ w), 3)[0])
        seconds, res = timed(epoch, 1)
        epochs.append(seconds)
    assert abs(res.trace["passes"][-1] - 1.0) < 1e-9, res.trace["passes"][-1]
    return {
        "epoch": statistics.median(epochs),
        "pass": statistics.median(passes),
        "permutation": timed(lambda: np.random.default_rng(SEED).permutation(n), 5)[0],
        "gather": timed(gather, 3)[0],
        "steps": int(res.iterations),
    }


def peak_memory(cell: Cell) -> dict[str, int]:
    """Peak tracemalloc bytes of gram_stats + solve (gd to the gap), and of one mini-batch epoch."""
    steps, _ = steps_to_gap(cell, "gd")
    out = {}
    for what in ("gd", "minibatch"):
        gc.collect()
        tracemalloc.start()
        stats = obj.gram_stats(cell.X, cell.y)
        prob = cell.problem(stats, "none")
        if what == "gd":
            solve(prob, build("gd", prob), np.zeros(cell.d), max_iter=steps, tol=0.0, gtol=0.0)
        else:
            minibatch_epoch(prob, cell.d, 0.5 / prob.lipschitz())
        out[what] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out


# --- driver -----------------------------------------------------------------------------------


def environment() -> str:
    lines = [
        f"python {sys.version.split()[0]}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}"
    ]
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            lines.append(
                f"threadpool: {info.get('internal_api')} {info.get('version')} "
                f"{info.get('architecture')} threads={info.get('num_threads')}"
            )
    except ImportError:
        lines.append("threadpoolctl not installed")
    return "\n".join(lines)


def fmt_gap(g: float) -> str:
    return f"{g:9.1e}" if math.isfinite(g) else f"{g!s:>9}"


def print_table(rows: list[Row]) -> None:
    head = f"{'n':>8} {'d':>4}  {'variant':<24} {'seconds':>9} {'x lstsq':>8} {'gap':>9}  "
    print(head + f"{'steps':<12} note")
    print("-" * (len(head) + 40))
    for r in rows:
        print(
            f"{r.n:>8.0e} {r.d:>4}  {r.name:<24} {r.seconds:>9.4f} {r.ratio:>8.3f} "
            f"{fmt_gap(r.gap)}  {r.steps:<12} {r.note}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n <= 1e5 only (< 1 min)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    ns = [10**3, 10**5] if args.quick else [10**3, 10**5, 10**6]
    ds = [10, 100]
    started = time.perf_counter()
    print(environment())
    print(f"load average at start: {os.getloadavg()}")
    print(f"target relative gap {GAP:g}; repeats {args.repeats} (median)\n", flush=True)

    all_rows: list[Row] = []
    sgd_choice: dict = {}
    tuned: dict = {}
    check_cell = None
    for d in ds:
        for n in ns:
            X, y = make_data(n, d)
            cell = Cell(n, d, X, y, obj.gram_stats(X, y))
            reps = 1 if X.nbytes > (50e6 if args.quick else 400e6) else args.repeats
            refs = reference_rows(cell, reps, sgd_choice)
            lstsq = refs[0].seconds
            rows = refs + [full_batch_row(cell, v, reps, tuned) for v in FULL_BATCH]
            rows.append(sampled_row(cell, "minibatch", 1 if n >= 10**6 else reps))
            rows.append(sampled_row(cell, "sgd", 1))
            for r in rows:
                r.ratio = r.seconds / lstsq
            cond = obj.condition(cell.f_star("none")[0])
            print(
                f"# n={n:.0e} d={d}: X {X.nbytes / 1e6:.0f} MB, kappa {cond['kappa']:.3g}, "
                f"f* {cell.f_star('none')[1]:.4g}, repeats {reps}, "
                f"elapsed {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            print_table(rows)
            print(flush=True)
            all_rows += rows
            if (n, d) == (TARGET_N, TARGET_D) or (args.quick and (n, d) == (10**5, 10)):
                check_cell = cell
            else:
                del cell, X, y
            gc.collect()

    print(f"== target checks at n={check_cell.n:.0e}, d={check_cell.d} ==")
    if args.quick:
        print("(--quick: informative only; the targets are defined at n=1e6, d=10)")
    fb = [r for r in all_rows if r.full_batch and (r.n, r.d) == (check_cell.n, check_cell.d)]
    worst = max(fb, key=lambda r: r.ratio)
    ok = all(r.ratio <= 0.5 for r in fb)
    print(
        f"1. full-batch variants <= 0.5x lstsq: {'PASS' if ok else 'FAIL'} "
        f"(worst {worst.name} {worst.ratio:.3f}x; "
        + ", ".join(f"{r.name} {r.ratio:.2f}" for r in fb)
        + ")"
    )
    ep = epoch_vs_pass(check_cell)
    ratio = ep["epoch"] / ep["pass"]
    print(
        f"2. one mini-batch epoch (batch {BATCH}, {ep['steps']} steps through solve) "
        f"{ep['epoch']:.4f} s vs one pass X.T@(X@w) {ep['pass']:.4f} s: {ratio:.2f}x "
        f"(target <= 5x) {'PASS' if ratio <= 5 else 'FAIL'}\n"
        f"   of which permutation of n rows {ep['permutation']:.4f} s "
        f"({ep['permutation'] / ep['pass']:.2f}x) + gathering the sorted batches "
        f"{ep['gather'] - ep['permutation']:.4f} s "
        f"({(ep['gather'] - ep['permutation']) / ep['pass']:.2f}x); the rest is the per-step "
        f"gradient arithmetic, Gram-form loss and update "
        f"({(ep['epoch'] - ep['gather']) / ep['steps'] * 1e6:.1f} us/step)"
    )
    peaks = peak_memory(check_cell)
    xb = check_cell.X.nbytes
    print(
        f"3. peak traced memory, gram_stats + solve(gd): {peaks['gd'] / 1e6:.1f} MB = "
        f"{peaks['gd'] / xb:.3f}x X bytes ({xb / 1e6:.0f} MB) (target <= 1.5x) "
        f"{'PASS' if peaks['gd'] <= 1.5 * xb else 'FAIL'}; "
        f"gram_stats + 1 mini-batch epoch: {peaks['minibatch'] / xb:.3f}x"
    )
    print(f"\nload average at end: {os.getloadavg()}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
