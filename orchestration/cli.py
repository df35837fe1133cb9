"""``tailstorm``: the command line of the testbed.

    tailstorm run SCENARIO        run a scenario (--backend local|kind|cluster) and write a report
    tailstorm scenarios           list the scenario catalog
    tailstorm validate SCENARIO   check a scenario file without running it
    tailstorm report RUN_DIR      rebuild a run's report from its artefacts
    tailstorm compare RUN_A RUN_B two runs' summaries side by side (markdown, or --json)
    tailstorm predict SCENARIO    record your predictions before a run (teaching mode)
    tailstorm formulas ...        the textbook calculator (queueing, SLOs, retries, HPA lag)
    tailstorm gpu ...             GPU serving predictions (roofline and emulated engine)
    tailstorm hpa decide          one HPA decision from a JSON state on stdin

Errors in input exit 2 with the field named; a stack that cannot start exits 1 with one sentence;
an interrupted run exits 128 + the signal (130 Ctrl-C, 143 SIGTERM). No command ends in a
traceback: an unexpected error is one sentence, with the traceback saved to a file to report.
"""
from __future__ import annotations

import argparse
import importlib
import pathlib
import sys

from schema import scenario as scenario_module

# Subcommands implemented in other packages take their own argv (argparse.REMAINDER).
DELEGATES = {
    "formulas": ("analysis.calculator", "the textbook calculator: queueing, SLOs, fan-out, retries, HPA lag"),
    "gpu": ("services.inference.gpu.cli", "GPU serving predictions from datasheet constants"),
    "hpa": ("controllers.hpa.cli", "the Kubernetes HPA decision algorithm on a JSON state"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailstorm", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a scenario (local processes, or a kind / any cluster) and write a report")
    run.add_argument("scenario", help="catalog name (e.g. chaos-spike) or path to a scenario YAML")
    run.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"),
                     help="where run directories go (default: runs)")
    run.add_argument("--entry-port", type=port, help="fixed port for the entry proxy (default: a free one)")
    run.add_argument("--prometheus-port", type=port, help="fixed port for Prometheus (default: a free one)")
    run.add_argument("--allow-target", action="append", default=[], metavar="HOST", dest="allowed_targets",
                     help="allow load to this non-loopback host (default: loopback only); repeatable")
    run.add_argument("--backend", choices=("local", "kind", "cluster"), default="local",
                     help="local processes (default); the kind cluster `make cluster-up` made; or any cluster")
    run.add_argument("--context", help="kube context for --backend cluster (default: kubectl's current one)")
    run.add_argument("--namespace", default="tailstorm", help="namespace of a cluster run (default: tailstorm)")
    run.add_argument("--keep", action="store_true", help="leave a cluster run's Helm release installed afterwards")
    which = run.add_mutually_exclusive_group()
    which.add_argument("--variant", help="run this variant of the scenario (its `variants` block)")
    which.add_argument("--all-variants", action="store_true",
                       help="run the scenario, then each variant, and show their pass criteria side by side")
    sub.add_parser("scenarios", help="list the scenario catalog")
    validate = sub.add_parser("validate", help="check a scenario file without running it")
    validate.add_argument("scenario")
    report = sub.add_parser("report", help="rebuild a run's report from its artefacts")
    report.add_argument("run_dir", type=pathlib.Path)
    compare = sub.add_parser("compare", help="two runs' summaries side by side (markdown to stdout)")
    compare.add_argument("run_a", type=pathlib.Path)
    compare.add_argument("run_b", type=pathlib.Path)
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON instead")
    predict = sub.add_parser("predict", help="record your predictions for a scenario before running it")
    predict.add_argument("scenario", help="catalog name or path to a scenario YAML")
    predict.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="assignments",
                         help="a prediction without prompting, e.g. --set p99_ms=120 or --set spike.error_percent=5; "
                              "repeatable")
    predict.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"),
                         help="runs directory; predictions go to RUNS_DIR/predictions/ (default: runs)")
    for name, (_, help_text) in DELEGATES.items():
        delegate = sub.add_parser(name, help=help_text, add_help=False)
        delegate.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is outside 1..65535")
    return value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in DELEGATES:
            # delegated commands parse their own options, including -h and options before positionals
            return importlib.import_module(DELEGATES[argv[0]][0]).main(argv[1:])
        return dispatch(build_parser().parse_args(argv))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 (every failure becomes one sentence and an exit status)
        message, code = explain(exc)
        print(f"tailstorm: {message}", file=sys.stderr)
        return code


def explain(exc: Exception) -> tuple[str, int]:
    """(one sentence, exit status) for a failure: 2 bad input, 1 an environment or stack problem,
    70 (EX_SOFTWARE) a bug, whose traceback goes to a file named in the sentence."""
    from analysis.tables import extract  # noqa: PLC0415 (light: stdlib only)
    from deploy.local import processes  # noqa: PLC0415
    if isinstance(exc, (scenario_module.ScenarioError, extract.RunDataError)):
        return str(exc), 2
    if isinstance(exc, processes.BackendError):
        return str(exc), 1
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", 1
    import tempfile  # noqa: PLC0415
    import traceback  # noqa: PLC0415
    with tempfile.NamedTemporaryFile("w", prefix="tailstorm-traceback-", suffix=".txt", delete=False) as handle:
        traceback.print_exception(exc, file=handle)
    return (f"unexpected error ({type(exc).__name__}: {exc}); this is a bug in tailstorm, "
            f"the traceback is in {handle.name}"), 70


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from orchestration import runner  # noqa: PLC0415 (keeps `tailstorm validate` light)
        placement = runner.Placement(backend=args.backend, context=args.context, namespace=args.namespace,
                                     keep=args.keep, entry_port=args.entry_port, prometheus_port=args.prometheus_port)
        options = {"runs_dir": args.runs_dir, "placement": placement, "allowed_targets": tuple(args.allowed_targets)}
        if args.all_variants:
            outcomes = runner.run_all_variants(args.scenario, **options)
            return next((o.exit_code for o in outcomes if o.exit_code), 0)
        return runner.run(args.scenario, variant=args.variant, **options).exit_code
    if args.command == "scenarios":
        for path in sorted(scenario_module.SCENARIO_DIR.glob("*.yaml")):
            loaded = scenario_module.load_scenario(path)
            print(f"{loaded.name:<24} {loaded.duration_seconds:6.0f} s  {loaded.description}")
            for name, variant in loaded.variants.items():
                print(f"{'':<4}--variant {name:<13} {variant.description}")
        return 0
    if args.command == "validate":
        loaded = scenario_module.load_scenario(args.scenario)
        variants = f"; variants: {', '.join(loaded.variants)}" if loaded.variants else ""
        stages = f"{len(loaded.stages)} stage{'' if len(loaded.stages) == 1 else 's'}"
        print(f"{loaded.name}: valid ({stages}, {loaded.duration_seconds:.0f} s){variants}")
        return 0
    if args.command == "report":
        from orchestration import runner  # noqa: PLC0415
        paths = runner.rebuild_report(args.run_dir)
        print(f"report: {paths['report_md']}")
        return 0
    if args.command == "compare":
        from analysis.presentation import diffing  # noqa: PLC0415
        result = diffing.diff(diffing.load_summary(args.run_a), diffing.load_summary(args.run_b))
        print(diffing.render_json(result) if args.json else diffing.render_markdown(result), end="")
        return 0
    if args.command == "predict":
        return predict(args)
    raise AssertionError(args.command)


def predict(args: argparse.Namespace, *, ask=input, interactive: bool | None = None, now: float | None = None) -> int:
    """Record predictions from --set or, in a terminal, from prompts; flag them when a run already started."""
    import json  # noqa: PLC0415
    import time  # noqa: PLC0415

    from analysis.verdicts import teaching  # noqa: PLC0415
    loaded = scenario_module.load_scenario(args.scenario).model_dump(mode="json")
    now = time.time() if now is None else now
    path = teaching.prediction_path(args.runs_dir / "predictions", loaded["name"])
    try:
        values = dict(teaching.parse_assignment(text, scenario=loaded) for text in args.assignments)
        if not values:
            if not (sys.stdin.isatty() if interactive is None else interactive):
                raise teaching.PredictionError("not a terminal: pass predictions with --set NAME=VALUE")
            values = prompt_predictions(loaded, ask=ask)
        started = [name for name, at in teaching.run_starts(args.runs_dir, loaded["name"]) if at <= now]
        document, entry = teaching.add_entry(teaching.load(path), scenario_name=loaded["name"], values=values,
                                             now=now, runs_already_started=started)
    except teaching.PredictionError as exc:
        print(f"tailstorm: {exc}", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    print(f"recorded {len(values)} prediction(s) for {loaded['name']} in {path}")
    if entry["runs_already_started"]:
        print(f"note: flagged — runs of {loaded['name']} had already started ({', '.join(entry['runs_already_started'])}); "
              "reports of those runs will not count it as a prediction", file=sys.stderr)
    return 0


def prompt_predictions(loaded: dict, *, ask) -> dict[str, float]:
    """Ask each quantity of the busiest phase in turn; an empty answer skips it."""
    from analysis.verdicts import teaching  # noqa: PLC0415
    busiest = teaching.busiest_phase([(s["name"], s["arrival_rate_per_second"]) for s in loaded["stages"]])
    print(f"Predict {loaded['name']} before you run it (busiest phase: {busiest}); Enter skips a question.")
    values = {}
    for quantity in teaching.quantities_for(loaded):
        while True:
            answer = ask(f"  {quantity.question} ").strip()
            if not answer:
                break
            try:
                key, value = teaching.parse_assignment(f"{quantity.name}={answer}", scenario=loaded)
            except teaching.PredictionError as exc:
                print(f"  {exc}")
                continue
            values[key] = value
            break
    if not values:
        raise teaching.PredictionError("no predictions given")
    return values


if __name__ == "__main__":
    sys.exit(main())
