"""``tailstorm``: the command line of the testbed.

    tailstorm run SCENARIO        run a scenario on the local backend and write a report
    tailstorm scenarios           list the scenario catalog
    tailstorm validate SCENARIO   check a scenario file without running it
    tailstorm report RUN_DIR      rebuild a run's report from its artefacts
    tailstorm formulas ...        the textbook calculator (queueing, SLOs, retries, HPA lag)
    tailstorm gpu ...             GPU serving predictions (roofline and emulated engine)
    tailstorm hpa decide          one HPA decision from a JSON state on stdin

Errors in input exit 2 with the field named; a stack that cannot start exits 1 with one sentence.
"""
from __future__ import annotations

import argparse
import importlib
import pathlib
import sys

from loadtests import scenario as scenario_module

# Subcommands implemented in other packages take their own argv (argparse.REMAINDER).
DELEGATES = {
    "formulas": ("analysis.formulas_cli", "the textbook calculator: queueing, SLOs, fan-out, retries, HPA lag"),
    "gpu": ("services.inference.gpu.cli", "GPU serving predictions from datasheet constants"),
    "hpa": ("controllers.hpa.cli", "the Kubernetes HPA decision algorithm on a JSON state"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailstorm", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a scenario on the local backend and write a report")
    run.add_argument("scenario", help="catalog name (e.g. chaos-spike) or path to a scenario YAML")
    run.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"),
                     help="where run directories go (default: runs)")
    run.add_argument("--entry-port", type=port, help="fixed port for the entry proxy (default: a free one)")
    run.add_argument("--prometheus-port", type=port, help="fixed port for Prometheus (default: a free one)")
    sub.add_parser("scenarios", help="list the scenario catalog")
    validate = sub.add_parser("validate", help="check a scenario file without running it")
    validate.add_argument("scenario")
    report = sub.add_parser("report", help="rebuild a run's report from its artefacts")
    report.add_argument("run_dir", type=pathlib.Path)
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
    if argv and argv[0] in DELEGATES:
        # delegated commands parse their own options, including -h and options before positionals
        return importlib.import_module(DELEGATES[argv[0]][0]).main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except scenario_module.ScenarioError as exc:
        print(f"tailstorm: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from deploy.local import processes  # noqa: PLC0415
        if isinstance(exc, processes.BackendError):
            print(f"tailstorm: {exc}", file=sys.stderr)
            return 1
        raise


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from loadtests import runner  # noqa: PLC0415 (keeps `tailstorm validate` light)
        outcome = runner.run(args.scenario, runs_dir=args.runs_dir, entry_port=args.entry_port,
                             prometheus_port=args.prometheus_port)
        return 130 if outcome.interrupted else 0  # 128 + SIGINT, as shells report an interrupted job
    if args.command == "scenarios":
        for path in sorted(scenario_module.SCENARIO_DIR.glob("*.yaml")):
            loaded = scenario_module.load_scenario(path)
            print(f"{loaded.name:<24} {loaded.duration_seconds:6.0f} s  {loaded.description}")
        return 0
    if args.command == "validate":
        loaded = scenario_module.load_scenario(args.scenario)
        print(f"{loaded.name}: valid ({len(loaded.stages)} stages, {loaded.duration_seconds:.0f} s)")
        return 0
    if args.command == "report":
        from analysis import report  # noqa: PLC0415
        paths = report.build(args.run_dir)
        print(f"report: {paths['report_md']}")
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
