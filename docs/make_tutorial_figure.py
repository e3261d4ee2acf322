"""Draw docs/tutorial_cost_curve.png: the gap to the exact optimum of five variants on sleep.

    python docs/make_tutorial_figure.py

Fits the variants of config/config.yaml named below on data/sleep.md (through
descent.fitting.fit_variant, as the workflow does) and draws them with descent.plots.cost_curves.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from descent import fitting, plots
from descent.discovery import effective_variants
from descent.features import build_design
from descent.ingest import ingest_and_validate
from descent.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ["batch-gd", "momentum", "nesterov", "adam", "newton"]


def main() -> None:
    spec_path = ROOT / "data" / "sleep.yaml"
    outcome = ingest_and_validate(spec_path)
    outcome.raise_if_failed()
    design = build_design(outcome.kept, load_spec(spec_path))
    stats = fitting.compute_stats(design)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    variants = effective_variants(config)
    fits, traces = [], {}
    for name in VARIANTS:
        record, trace = fitting.fit_variant(design, stats, name, variants[name])
        fits.append(record)
        traces[name] = trace
        print(f"{name:10} {record['status']:9} {record['iterations']:5} iterations, "
              f"gap {record['gap']:.2e}")
    out = plots.cost_curves(fits, traces, ROOT / "docs" / "tutorial_cost_curve.png",
                            x="iterations", title="sleep: Performance ~ 1 + h + h², "
                            "gap to the exact optimum")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
