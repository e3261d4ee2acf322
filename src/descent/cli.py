"""The ``descent`` command line: fit a variant on a table, infer a spec, list variants, make data.

    descent fit TABLE [--spec SPEC] --variant NAME [--config config/config.yaml] [--json]
    descent fit TABLE [--spec SPEC] --optimizer adam --learning-rate 0.05 [...]
    descent init-spec TABLE [-o SPEC] [--force]
    descent variants [--config config/config.yaml]
    descent make-synthetic OUT.parquet --rows N --features D [--seed S] [--noise σ]

Every command goes through the library (``descent.ingest`` to validate, ``descent.features`` to
build the design, :func:`descent.fitting.fit_variant` to fit). A mistake is one line
``descent: error: ...`` on stderr and exit code 1 (2 for a bad command line); a validation
failure prints its table of failures after that line. A fit that does not converge is a
result, not an error: its status is printed and the exit code is 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

__all__ = ["main"]

DEFAULT_CONFIG = Path("config/config.yaml")
CONFIG_SCHEMA = Path("workflow/schemas/config.schema.yaml")  # relative to the project folder


class CommandError(Exception):
    """A mistake of the user's: printed as one line, exit code 1."""


class _UsageError(Exception):
    """A bad command line (argparse): printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("descent").strip()
        raise _UsageError(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")


# --- descent fit ---------------------------------------------------------------------------


def _validated_frame(table: Path, spec_path: Path) -> tuple[Any, dict]:
    """The table typed and validated against the spec (any table, not only the spec's own)."""
    from descent.ingest import ingest_and_validate
    from descent.spec import load_spec

    spec = load_spec(spec_path)
    if spec["model"] is None:
        raise CommandError(f"{spec_path}: model: none, nothing to fit ({spec.get('why')})")
    outcome = ingest_and_validate(spec_path, table=table, spec=spec)
    outcome.raise_if_failed()
    return outcome.kept, spec


def _read_config(path: Path, required: bool) -> dict | None:
    """The workflow config (None when absent and not required)."""
    if not path.is_file():
        if required:
            raise CommandError(f"config file {path} not found (give one with --config)")
        return None
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise CommandError(f"{path}: not valid YAML: {_one_line(err)}") from err
    if not isinstance(config, dict):
        raise CommandError(f"{path}: a config must be a YAML mapping")
    return config


def _config_variants(path: Path, config: dict) -> dict[str, dict]:
    """Every variant of the config with its ``defaults`` under it, checked by the schema."""
    from descent.discovery import effective_variants

    schema = path.resolve().parent.parent / CONFIG_SCHEMA
    try:
        return effective_variants(config, schema if schema.is_file() else None)
    except ValueError as err:
        raise CommandError(str(err).replace("config/config.yaml", str(path))) from err


def _yaml_value(text: str, what: str) -> Any:
    """A command-line value read as YAML (``0.9``, ``true``, ``{name: step_decay, every: 9}``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CommandError(f"{what}: cannot read {text!r}: {_one_line(err)}") from err


def _overrides(args: argparse.Namespace, base: dict) -> dict[str, Any]:
    """The variant keys set on the command line."""
    out: dict[str, Any] = {}
    for key in (
        "optimizer",
        "lr_factor",
        "batch_size",
        "max_iter",
        "max_passes",
        "tol",
        "gtol",
        "seed",
        "restarts",
    ):
        if getattr(args, key) is not None:
            out[key] = getattr(args, key)
    if args.learning_rate is not None:
        out["learning_rate"] = (
            "auto"
            if args.learning_rate == "auto"
            else _positive(args.learning_rate, "--learning-rate")
        )
    if args.schedule is not None:
        schedule = _yaml_value(args.schedule, "--schedule")
        out["schedule"] = {"name": schedule} if isinstance(schedule, str) else schedule
    if args.alpha is not None or args.l1_ratio is not None:
        penalty = dict(base.get("penalty") or {})
        if args.alpha is not None:
            penalty["alpha"] = args.alpha
        if args.l1_ratio is not None:
            penalty["l1_ratio"] = args.l1_ratio
        if not (penalty.get("alpha", 0.0) >= 0 and 0 <= penalty.get("l1_ratio", 0.0) <= 1):
            raise CommandError(f"need --alpha >= 0 and 0 <= --l1-ratio <= 1, got {penalty}")
        out["penalty"] = penalty
    if args.no_standardize:
        out["standardize"] = False
    if args.option:
        options = dict(base.get("options") or {})
        for item in args.option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CommandError(f"--option {item!r}: expected KEY=VALUE, e.g. momentum=0.9")
            options[key] = _yaml_value(value, f"--option {key}")
        out["options"] = options
    return out


def _positive(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CommandError(f"{flag}: expected a number or 'auto', got {text!r}") from None
    if not value > 0:
        raise CommandError(f"{flag}: must be > 0, got {text}")
    return value


def _choose_variant(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """``(name, variant)``: a variant of the config, or an ad-hoc one, with the overrides."""
    from descent.fitting import resolve_variant

    config_path = Path(args.config) if args.config else DEFAULT_CONFIG
    if args.variant is None and args.optimizer is None:
        raise CommandError(
            "say what to fit: --variant NAME (see `descent variants`) or "
            "--optimizer NAME for an ad-hoc variant"
        )
    config = _read_config(config_path, required=args.variant is not None or bool(args.config))
    if args.variant is not None:
        variants = _config_variants(config_path, config)
        if args.variant not in variants:
            raise CommandError(
                f"unknown variant {args.variant!r} in {config_path}; known: "
                f"{', '.join(variants) or 'none'}"
            )
        name, base = args.variant, variants[args.variant]
    else:
        defaults = (config or {}).get("defaults") or {}
        name, base = "ad-hoc", {k: v for k, v in defaults.items() if k != "datasets"}
    variant = {**base, **_overrides(args, base)}
    variant.pop("datasets", None)  # the command line fits the table it is given
    resolve_variant(variant)  # unknown keys fail here, before the data are read
    return name, variant


def _cmd_fit(args: argparse.Namespace) -> int:
    from descent import fitting
    from descent.features import build_design

    table = Path(args.table)
    if not table.is_file():
        raise CommandError(f"table {table} not found")
    spec_path = Path(args.spec) if args.spec else table.with_suffix(".yaml")
    if not spec_path.is_file():
        raise CommandError(
            f"spec {spec_path} not found"
            + (
                ""
                if args.spec
                else " (give one with --spec, or write one with `descent init-spec`)"
            )
        )
    name, variant = _choose_variant(args)
    frame, spec = _validated_frame(table, spec_path)
    design = build_design(frame, spec)
    del frame
    record, _ = fitting.fit_design(design, name, variant)
    record["table"], record["spec"] = str(table), str(spec_path)
    if args.json:
        from descent.jobs import clean_json

        print(json.dumps(clean_json(record), indent=2, sort_keys=True))
    else:
        print(_fit_text(record, design, table, spec_path, variant))
    return 0


def _fit_text(record: dict, design: Any, table: Path, spec_path: Path, variant: dict) -> str:
    """The fit as a reviewer reads it: status, coefficients next to the optimum, gap."""
    from descent.fitting import formula

    n = int(design.X.shape[0])
    message = str(record["message"])
    if message.startswith(f"{record['status']}: "):
        message = message[len(record["status"]) + 2 :]
    unstable = "  (beyond the stability limit 2/L)" if record.get("lr_unstable") else ""
    model = record.get("formula") or formula(design)  # the peak family names its own
    lines = [
        f"{table}: {model}  ({n} rows, validated against {spec_path})",
        f"variant {record['variant']}: {_settings(variant)}",
        f"status         {record['status']}",
        f"solver         {message}"
        + ("  [standardized units]" if variant.get("standardize", True) else ""),
        f"iterations     {record['iterations']}  ({record['passes']:g} data passes, "
        f"{record['seconds']:.3g} s)",
        f"learning rate  {record['learning_rate']:.6g}{unstable}",
        "",
    ]
    width = max(len("term"), *(len(t) for t in record["terms"]))
    lines.append(f"{'term':<{width}}  {'coefficient':>20}  {'exact optimum':>20}")
    for term, c, c_star in zip(
        record["terms"], record["coef"], record["optimal_coef"], strict=True
    ):
        lines.append(f"{term:<{width}}  {c:>20.12g}  {c_star:>20.12g}")
    lines += [
        "",
        f"loss           {record['loss']:.12g}  (0.5·mean(residual²) + penalty)",
        f"exact optimum  {record['optimal_loss']:.12g}",
        f"gap            {record['gap']:.3g}  (relative: (loss − optimum) / optimum)",
        f"distance       {record['distance']:.3g}  (‖coef − exact optimum‖, data units)",
    ]
    lines += [f"warning: {w}" for w in record.get("warnings") or []]
    return "\n".join(lines)


def _settings(variant: dict) -> str:
    """``key=value`` of the settings that differ from the defaults (schedules inline)."""
    from descent.fitting import VARIANT_DEFAULTS

    order = list(VARIANT_DEFAULTS)
    keys = sorted(variant, key=lambda k: order.index(k) if k in order else len(order))
    parts = [
        f"{key}={_flow(variant[key])}"
        for key in keys
        if key == "optimizer" or variant[key] != VARIANT_DEFAULTS.get(key, object())
    ]
    return " ".join(parts) or "defaults"


# --- descent init-spec, variants, make-synthetic ------------------------------------------------


def _cmd_init_spec(args: argparse.Namespace) -> int:
    from descent.spec import dump_spec_yaml, infer_spec, load_spec, validate_dataset_name

    table = Path(args.table)
    if not table.is_file():
        raise CommandError(f"table {table} not found")
    out = Path(args.output) if args.output else table.with_suffix(".yaml")
    if out.suffix not in (".yaml", ".yml"):
        raise CommandError(f"{out}: a spec file ends in .yaml")
    validate_dataset_name(out.stem, out)
    if out.exists() and not args.force:
        raise CommandError(f"{out} exists; add --force to overwrite it")
    spec = infer_spec(table)
    if out.resolve().parent == table.resolve().parent and out.stem != table.stem:
        spec = {
            **{k: v for k, v in spec.items() if k != "columns"},
            "file": table.name,
            "columns": spec["columns"],
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    dump_spec_yaml(spec, out)
    checked = load_spec(out)  # what we write must be a spec the pipeline accepts
    model = checked["model"]
    what = (
        f"model {model['target']} ~ {' + '.join(model['features'])}"
        if model
        else f"model: none ({checked['why']})"
    )
    print(f"wrote {out}: {len(checked['columns'])} columns, {what}")
    print(
        f"review it (types, checks, model), then: descent fit {table} --spec {out} "
        "--variant batch-gd"
    )
    return 0


def _cmd_variants(args: argparse.Namespace) -> int:
    from descent.optim.aliases import OPTIMIZERS, optimizer_options
    from descent.optim.schedules import SCHEDULES

    width = max(len(name) for name in OPTIMIZERS)
    lines = ["optimizers (--optimizer NAME; their options go to --option KEY=VALUE):"]
    for name, about in OPTIMIZERS.items():
        options = ", ".join(f"{k}={v}" for k, v in optimizer_options(name).items())
        lines.append(f"  {name:<{width}}  {about}" + (f"  [{options}]" if options else ""))
    lines.append(f"schedules (--schedule NAME or '{{name: NAME, ...}}'): {', '.join(SCHEDULES)}")
    config_path = Path(args.config) if args.config else DEFAULT_CONFIG
    config = _read_config(config_path, required=bool(args.config))
    if config is None:
        lines.append(f"no config at {config_path}: no named variants (give one with --config)")
    else:
        variants = config.get("variants") or {}
        _config_variants(config_path, config)  # the same checks as `descent fit --variant`
        defaults = config.get("defaults") or {}
        shown = " ".join(f"{k}={_flow(v)}" for k, v in defaults.items()) or "none"
        lines.append(f"variants of {config_path} (each on top of the defaults: {shown}):")
        vwidth = max((len(str(v)) for v in variants), default=0)
        for name, settings in variants.items():
            shown = " ".join(f"{k}={_flow(v)}" for k, v in (settings or {}).items())
            lines.append(f"  {name!s:<{vwidth}}  {shown}")
    print("\n".join(lines))
    return 0


def _flow(value: Any) -> Any:
    """A config value on one line."""
    if isinstance(value, dict | list):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return value


def _cmd_make_synthetic(args: argparse.Namespace) -> int:
    from descent.synthetic import make_synthetic

    out = Path(args.out)
    spec = out.with_suffix(".yaml")
    existing = [str(p) for p in (out, spec) if p.exists()]
    if existing and not args.force:
        raise CommandError(f"{' and '.join(existing)} exist(s); add --force to overwrite")
    started = time.perf_counter()
    coef = make_synthetic(out, args.rows, args.features, seed=args.seed, noise=args.noise)
    print(
        f"wrote {out} ({args.rows} rows, {args.features} features, "
        f"{time.perf_counter() - started:.3g} s) and its spec {spec}"
    )
    print("true coefficients: " + ", ".join(f"{k} = {v:g}" for k, v in coef.items()))
    return 0


# --- the parser ------------------------------------------------------------------------------


def _add_variant_flags(parser: argparse.ArgumentParser) -> None:
    """Ad-hoc variant keys; with --variant they override its settings."""
    group = parser.add_argument_group("ad-hoc variant (with --variant: overrides of its settings)")
    group.add_argument("--optimizer", help="optimizer name (see `descent variants`)")
    group.add_argument("--learning-rate", metavar="LR", help="a number or 'auto' (lr_factor/L)")
    group.add_argument("--lr-factor", type=float, help="multiplier of 1/L for 'auto'")
    group.add_argument(
        "--schedule",
        help="a name or a YAML mapping, e.g. '{name: step_decay, every: 100, factor: 0.5}'",
    )
    group.add_argument("--alpha", type=float, help="penalty strength (sklearn ElasticNet alpha)")
    group.add_argument("--l1-ratio", type=float, help="share of L1 in the penalty, in [0, 1]")
    group.add_argument("--batch-size", type=int, help="rows per step (default: full batch)")
    group.add_argument("--max-iter", type=int, help="maximum number of updates")
    group.add_argument("--max-passes", type=float, help="budget of data passes")
    group.add_argument("--tol", type=float, help="relative loss change to stop at")
    group.add_argument("--gtol", type=float, help="relative gradient norm to stop at")
    group.add_argument("--seed", type=int, help="seed of sampling and restarts")
    group.add_argument("--restarts", type=int, help="number of starting points")
    group.add_argument(
        "--no-standardize", action="store_true", help="solve in the data's own units"
    )
    group.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="an optimizer option, e.g. momentum=0.9 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``descent`` argument parser."""
    from descent import __version__

    parser = _Parser(
        prog="descent",
        description="Gradient-descent regression, measured against the exact optimum.",
    )
    parser.add_argument("--version", action="version", version=f"descent {__version__}")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="show the Python traceback of an error (for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    fit = sub.add_parser(
        "fit",
        help="validate a table and fit a variant to it",
        description="Validate TABLE against its spec, build the design and fit "
        "a variant; print the coefficients next to the exact optimum.",
    )
    fit.add_argument("table", metavar="TABLE", help="a .md, .csv, .tsv or .parquet table")
    fit.add_argument("--spec", help="its dataset spec (default: TABLE with suffix .yaml)")
    fit.add_argument("--variant", help="a variant of the config (see `descent variants`)")
    fit.add_argument("--config", help=f"the workflow config (default: {DEFAULT_CONFIG})")
    fit.add_argument("--json", action="store_true", help="print the fit record as JSON")
    _add_variant_flags(fit)
    fit.set_defaults(run=_cmd_fit)

    init = sub.add_parser(
        "init-spec",
        help="infer a dataset spec from a table",
        description="Write a starting spec for TABLE (types, simple checks, "
        "a key, a model) to review before fitting.",
    )
    init.add_argument("table", metavar="TABLE")
    init.add_argument(
        "-o",
        "--output",
        metavar="SPEC",
        help="the spec to write (default: TABLE with suffix .yaml)",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing spec")
    init.set_defaults(run=_cmd_init_spec)

    variants = sub.add_parser("variants", help="list the optimizers and the config's variants")
    variants.add_argument("--config", help=f"the workflow config (default: {DEFAULT_CONFIG})")
    variants.set_defaults(run=_cmd_variants)

    synth = sub.add_parser(
        "make-synthetic",
        help="write a synthetic table and its spec",
        description="Write OUT.parquet (x1..xD, y = b0 + Σ b_j x_j + noise) "
        "in chunks of rows, and its spec OUT.yaml beside it.",
    )
    synth.add_argument("out", metavar="OUT.parquet")
    synth.add_argument("--rows", type=int, required=True)
    synth.add_argument("--features", type=int, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--noise", type=float, default=1.0, help="σ of the noise (default 1)")
    synth.add_argument("--force", action="store_true", help="overwrite existing files")
    synth.set_defaults(run=_cmd_make_synthetic)
    return parser


def _one_line(err: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 error, 2 bad usage)."""
    from descent.schema import ValidationFailed

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as err:
        print(f"descent: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0)
    try:
        return args.run(args)
    except ValidationFailed as err:
        head, _, table = str(err).partition("\n")
        print(f"descent: error: validation failed: {head}", file=sys.stderr)
        print(table, file=sys.stderr)
    except KeyboardInterrupt:
        print("descent: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, OSError) as err:
        print(f"descent: error: {_one_line(err)}", file=sys.stderr)
    except Exception as err:  # a bug: still one line, the traceback on request
        print(
            f"descent: error: unexpected {type(err).__name__}: {_one_line(err)} "
            "(rerun with --traceback for details)",
            file=sys.stderr,
        )
    if args.traceback:
        traceback.print_exc()
    return 1


if __name__ == "__main__":
    sys.exit(main())
