"""Mutation testing of the pure core: are the tests strong enough to notice a small wrong change?

`make mutants` runs this. For every group of tools/mutants.toml it runs mutmut in a workspace of
its own (.mutants/<group>/): mutmut copies the tree to .mutants/<group>/mutants/, writes every
mutant of the group's modules into it behind a trampoline, records once which test executes
which function (its stats pass, over the group's test files only), then runs each mutant against
just those tests, forked from a warm process. At the end it prints a score per module and every
surviving mutant with file, line and the changed line, and exits 1 when a module scores below the
threshold or an equivalent-mutant entry no longer matches its mutant.

Why mutmut (3.x, pinned in pyproject.toml's `mutation` extra): we compared it with cosmic-ray and
mutatest on this Python 3.11 + pytest tree.
- mutmut runs mutants in forked children of a process that already imported pytest and the code,
  switching mutants with an environment variable (no file rewrite, no interpreter start per
  mutant): about 14 mutants/s on two cores here, so the whole core fits in minutes. cosmic-ray
  writes each mutant to disk and starts the test command afresh (a pytest start of about a second
  each, thousands of mutants: well over the 45-minute budget on two shared cores); mutatest has
  seen no release since 2022.
- per-mutant test selection: mutmut runs only the tests that executed the mutated function, and
  `pytest_add_cli_args_test_selection` restricts those to the group's test files (module → tests).
- incremental cache: verdicts are kept per function source hash in the workspace's `.meta` files;
  a rerun only tests mutants of functions that changed, plus (this driver) every previous
  survivor again, since new tests may kill it. A killed verdict is trusted until its function
  changes: after weakening a test, run with --fresh.

Equivalent mutants (no test can tell them apart from the original) are listed in
tools/mutants-equivalent.toml with a one-line reason each, rather than as `# pragma: no mutate`
comments, so that mutation bookkeeping stays out of modules other engineers are editing. Each
entry records the mutated line; an entry whose mutant now reads differently (its function was
edited and mutmut renumbered its mutants), or that a test kills, is reported stale.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tools" / "mutants.toml"
EQUIVALENTS = ROOT / "tools" / "mutants-equivalent.toml"
WORKDIR = ROOT / ".mutants"
# Repository entries never copied into a workspace (caches, the venv, earlier workspaces, runs).
NOT_COPIED = {".git", ".venv", ".mutants", "runs", ".tmp", ".pytest_cache", "__pycache__", "build", "dist"}

# mutmut's exit-code verdicts (mutmut.stats.status_by_exit_code), grouped for the score.
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}


@dataclasses.dataclass(frozen=True)
class Group:
    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Equivalent:
    mutant: str
    mutated: str
    reason: str


@dataclasses.dataclass
class Mutant:
    key: str
    module: str
    status: str
    line: int = 0
    removed: str = ""
    added: str = ""


@dataclasses.dataclass
class ModuleScore:
    module: str
    total: int = 0
    detected: int = 0
    equivalent: int = 0
    undetected: list[Mutant] = dataclasses.field(default_factory=list)

    @property
    def score(self) -> float:
        counted = self.total - self.equivalent
        return self.detected / counted if counted else 1.0


# ---------------------------------------------------------------------------------------------
# configuration


def load_groups(path: pathlib.Path = CONFIG) -> tuple[float, list[Group]]:
    data = tomllib.loads(path.read_text())
    groups = [
        Group(name=g["name"], modules=tuple(g["modules"]), tests=tuple(g["tests"])) for g in data.get("group", [])
    ]
    names = [g.name for g in groups]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit(f"{path.name}: group names must be unique; repeated: {', '.join(duplicates)}")
    return float(data.get("threshold", 0.9)), groups


def load_equivalents(path: pathlib.Path = EQUIVALENTS) -> dict[str, Equivalent]:
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text()).get("equivalent", [])
    found: dict[str, Equivalent] = {}
    for index, entry in enumerate(entries):
        # `mutated` may be empty (a mutant that removes a line, e.g. a keyword argument) but must be given
        missing = [k for k in ("mutant", "mutated", "reason")
                   if k not in entry or (k != "mutated" and not str(entry[k]).strip())]
        if missing:
            raise SystemExit(f"{path.name}: entry {index + 1} lacks {', '.join(missing)} (each needs all three)")
        found[entry["mutant"]] = Equivalent(entry["mutant"], entry["mutated"].strip(), entry["reason"])
    return found


def module_files(group: Group) -> list[str]:
    """The .py files the group's globs name, relative to the repository root, sorted."""
    files = sorted({str(p.relative_to(ROOT)) for pattern in group.modules for p in ROOT.glob(pattern)})
    if not files:
        raise SystemExit(f"group {group.name}: no file matches {list(group.modules)}")
    return files


def source_packages(files: list[str]) -> list[str]:
    """The top-level folders mutmut copies and scans (it copies each source path whole)."""
    return sorted({f.split("/", 1)[0] for f in files})


# ---------------------------------------------------------------------------------------------
# workspace


def mutmut_section(group: Group, files: list[str]) -> str:
    packages = source_packages(files)
    copied = sorted(
        p.name for p in ROOT.iterdir()
        if p.name not in NOT_COPIED and p.name not in packages and p.name != "tests"
        and not p.name.endswith(".egg-info") and p.name != "pyproject.toml"
    )
    lines = [
        "",
        "# Written by tools/mutants.py for this workspace; edit tools/mutants.toml instead.",
        "[tool.mutmut]",
        f"source_paths = {json.dumps(packages)}",
        f"only_mutate = {json.dumps(files)}",
        f"also_copy = {json.dumps(copied)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(list(group.tests))}",
        # -p no:cacheprovider: mutants must not write pytest's cache into the copy
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]',
        # a mutant that loops forever is stopped after 10 CPU-seconds plus 10x its tests' time (mutmut's
        # default, 30 s, costs minutes per group on two shared cores; these tests take well under 1 s)
        "timeout_multiplier = 5.0",
        # non-Python files are re-synced by this driver; git-based detection would report every
        # change in the repository as a dependency change
        "use_git_change_detection = false",
        'on_dependency_change = "ignore"',
        "",
    ]
    return "\n".join(lines)


def prepare_workspace(group: Group, files: list[str], *, fresh: bool) -> pathlib.Path:
    """Make .mutants/<group>/ look like the repository (links) plus a pyproject with mutmut's section."""
    workspace = WORKDIR / group.name
    if fresh and workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name in NOT_COPIED or entry.name == "pyproject.toml" or entry.name.endswith(".egg-info"):
            continue
        link = workspace / entry.name
        if not link.is_symlink():
            link.symlink_to(entry)
    pyproject = (ROOT / "pyproject.toml").read_text() + mutmut_section(group, files)
    target = workspace / "pyproject.toml"
    if not target.exists() or target.read_text() != pyproject:
        target.write_text(pyproject)
    sync_data_files(workspace, source_packages(files))
    return workspace


def sync_data_files(workspace: pathlib.Path, packages: list[str]) -> None:
    """mutmut copies the non-Python files of its source paths only once: keep them current."""
    copy_root = workspace / "mutants"
    if not copy_root.exists():
        return
    for package in packages:
        for source in (ROOT / package).rglob("*"):
            if not source.is_file() or source.suffix in {".py", ".pyc"} or "__pycache__" in source.parts:
                continue
            target = copy_root / source.relative_to(ROOT)
            if not target.exists() or target.read_bytes() != source.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)


# ---------------------------------------------------------------------------------------------
# running mutmut


def mutmut_binary() -> str:
    candidate = pathlib.Path(sys.executable).with_name("mutmut")
    if not candidate.exists():
        raise SystemExit("mutmut is not installed in this environment: run `make mutants` (it installs the "
                         "`mutation` extra) or pip install -e '.[mutation]'")
    return str(candidate)


def read_verdicts(workspace: pathlib.Path, files: list[str]) -> dict[str, tuple[str, int | None]]:
    """mutant key → (source file, exit code or None), from the workspace's .meta files."""
    verdicts: dict[str, tuple[str, int | None]] = {}
    for file in files:
        meta = workspace / "mutants" / (file + ".meta")
        if meta.exists():
            for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
                verdicts[key] = (file, code)
    return verdicts


def function_hashes(workspace: pathlib.Path, files: list[str]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for file in files:
        meta = workspace / "mutants" / (file + ".meta")
        if meta.exists():
            for function, digest in json.loads(meta.read_text()).get("hash_by_function_name", {}).items():
                hashes[f"{file}:{function}"] = digest
    return hashes


def function_of(key: str) -> str:
    """'analysis.formulas.queueing.x_erlang_b__mutmut_17' → 'x_erlang_b' (mutmut's mangled function name)."""
    return key.partition("__mutmut_")[0].rpartition(".")[2]


def run_mutmut(workspace: pathlib.Path, args: list[str], log: pathlib.Path, jobs: int) -> None:
    command = [mutmut_binary(), "run", "--max-children", str(jobs), *args]
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command[:6])}{' ...' if len(command) > 6 else ''}\n")
        out.flush()
        result = subprocess.run(command, cwd=workspace, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed in {workspace} (exit {result.returncode}); end of {log}:\n{tail}")


def run_group(group: Group, *, fresh: bool, jobs: int) -> tuple[pathlib.Path, list[str]]:
    files = module_files(group)
    workspace = prepare_workspace(group, files, fresh=fresh)
    log = workspace / "mutmut.log"
    log.write_text("")
    before_verdicts = read_verdicts(workspace, files)
    before_hashes = function_hashes(workspace, files)
    # pass 1: mutants never tested, or whose function changed since
    run_mutmut(workspace, [], log, jobs)
    # pass 2: earlier survivors of unchanged functions, which tests added since may now kill
    after_hashes = function_hashes(workspace, files)
    retry = sorted(
        key for key, (file, code) in before_verdicts.items()
        if code is not None and status_of(code) not in DETECTED
        and before_hashes.get(f"{file}:{function_of(key)}") == after_hashes.get(f"{file}:{function_of(key)}")
        and key in read_verdicts(workspace, [file])
    )
    if retry:
        run_mutmut(workspace, retry, log, jobs)
    return workspace, files


# ---------------------------------------------------------------------------------------------
# reading the results


def status_of(code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def def_line(source: str, key: str) -> int:
    """Line of the `def` of the function a mutant key names (top-level function or method)."""
    mangled = function_of(key)
    if "ǁ" in mangled:
        _, class_name, name = mangled.split("ǁ")
    else:
        class_name, name = None, mangled[2:]
    tree = ast.parse(source)
    body = tree.body
    if class_name is not None:
        body = next((n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), [])
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node.lineno
    return 0


def locate(diff: str, function_code: str, def_lineno: int) -> tuple[int, str, str]:
    """File line of a mutant's first change, and its removed and added text (first line each)."""
    code_lines = function_code.split("\n")
    def_index = next((i for i, line in enumerate(code_lines) if re.match(r"\s*(async\s+)?def\s", line)), 0)
    orig_line, first_change = 0, 0
    removed, added = "", ""
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        header = re.match(r"@@ -(\d+)", line)
        if header:
            orig_line = int(header.group(1))
            continue
        if line.startswith("-"):
            if not first_change:
                first_change = orig_line
            removed = removed or line[1:].strip()
            orig_line += 1
        elif line.startswith("+"):
            if not first_change:
                first_change = orig_line
            added = added or line[1:].strip()
        else:
            orig_line += 1
    return def_lineno + (first_change - 1 - def_index), removed, added


def describe(workspace: pathlib.Path, key: str, file: str, source: str) -> tuple[int, str, str]:
    import libcst
    from mutmut.mutation import diff_apply

    cwd = os.getcwd()
    os.chdir(workspace)
    try:
        diff = diff_apply.get_diff_for_mutant(key, path=file)
        functions = diff_apply.read_functions_from_index(key, file)
        original = libcst.Module([functions[0]]).code.strip() if functions else ""
    finally:
        os.chdir(cwd)
    return locate(diff, original, def_line(source, key))


def score_group(workspace: pathlib.Path, files: list[str], equivalents: dict[str, Equivalent],
                stale: list[str]) -> list[ModuleScore]:
    scores = {file: ModuleScore(module=file) for file in files}
    sources = {file: (ROOT / file).read_text() for file in files}
    for key, (file, code) in read_verdicts(workspace, files).items():
        entry = scores[file]
        entry.total += 1
        status = status_of(code)
        if status in DETECTED:
            entry.detected += 1
            if key in equivalents:
                stale.append(f"{key}: listed as equivalent, but a test kills it ({status})")
            continue
        mutant = Mutant(key=key, module=file, status=status)
        mutant.line, mutant.removed, mutant.added = describe(workspace, key, file, sources[file])
        equivalent = equivalents.get(key)
        if equivalent is not None:
            if equivalent.mutated == mutant.added:
                entry.equivalent += 1
                continue
            stale.append(f"{key}: listed as reading {equivalent.mutated!r}, now reads {mutant.added!r}")
        entry.undetected.append(mutant)
    return [scores[f] for f in files]


# ---------------------------------------------------------------------------------------------
# printing


def render_table(scores: list[ModuleScore], threshold: float) -> str:
    width = max([len("module")] + [len(s.module) for s in scores])
    lines = [f"{'module':<{width}}  {'mutants':>7}  {'killed':>6}  {'survived':>8}  {'equiv.':>6}  {'score':>7}"]
    for s in scores:
        flag = "" if s.score >= threshold else "  < threshold"
        lines.append(f"{s.module:<{width}}  {s.total:>7}  {s.detected:>6}  {len(s.undetected):>8}  "
                     f"{s.equivalent:>6}  {100 * s.score:>6.1f}%{flag}")
    total = ModuleScore(module="all", total=sum(s.total for s in scores),
                        detected=sum(s.detected for s in scores), equivalent=sum(s.equivalent for s in scores))
    lines.append(f"{'all':<{width}}  {total.total:>7}  {total.detected:>6}  "
                 f"{sum(len(s.undetected) for s in scores):>8}  {total.equivalent:>6}  {100 * total.score:>6.1f}%")
    return "\n".join(lines)


def render_survivors(scores: list[ModuleScore]) -> str:
    lines = []
    for s in scores:
        for m in sorted(s.undetected, key=lambda m: (m.line, m.key)):
            note = "" if m.status == "survived" else f" [{m.status}]"
            lines.append(f"{m.module}:{m.line}: {m.key.rpartition('.')[2]}{note}")
            lines.append(f"    - {m.removed}")
            lines.append(f"    + {m.added}")
    return "\n".join(lines)


def render_equivalents(equivalents: dict[str, Equivalent], files: set[str], verdicts: dict[str, tuple]) -> str:
    lines = []
    for key, e in sorted(equivalents.items()):
        if key in verdicts and verdicts[key][0] in files:
            lines.append(f"{verdicts[key][0]}: {key.rpartition('.')[2]}: {e.mutated}  ({e.reason})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("groups", nargs="*", help="group names from tools/mutants.toml (default: all)")
    parser.add_argument("--fresh", action="store_true", help="drop the cache and test every mutant again")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel mutants (default: cores)")
    parser.add_argument("--summary", type=pathlib.Path, help="also write the scores and survivors as JSON here")
    args = parser.parse_args(argv)

    threshold, groups = load_groups()
    unknown = sorted(set(args.groups) - {g.name for g in groups})
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)}; known: {', '.join(g.name for g in groups)}")
    selected = [g for g in groups if not args.groups or g.name in args.groups]
    equivalents = load_equivalents()

    started = time.monotonic()
    scores: list[ModuleScore] = []
    stale: list[str] = []
    listed: list[str] = []
    for group in selected:
        group_started = time.monotonic()
        print(f"[{group.name}] mutating {', '.join(group.modules)} against {len(group.tests)} test file(s) ...",
              flush=True)
        workspace, files = run_group(group, fresh=args.fresh, jobs=args.jobs)
        group_scores = score_group(workspace, files, equivalents, stale)
        scores.extend(group_scores)
        text = render_equivalents(equivalents, set(files), read_verdicts(workspace, files))
        if text:
            listed.append(text)
        print(f"[{group.name}] done in {time.monotonic() - group_started:.0f} s", flush=True)

    print("\nSurviving mutants (file:line: mutant, then the original and the mutated line):")
    print(render_survivors(scores) or "    none")
    print("\nEquivalent mutants (excluded from the score):")
    print("\n".join(listed) or "    none")
    if stale:
        print("\nStale equivalent-mutant entries (their function changed; review and update "
              f"{EQUIVALENTS.relative_to(ROOT)}):")
        print("\n".join(f"    {s}" for s in stale))
    print("\nMutation score per module (killed / (mutants - equivalent); timeouts count as killed):")
    print(render_table(scores, threshold))
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    if args.summary:
        args.summary.write_text(json.dumps(
            [dataclasses.asdict(s) | {"score": s.score} for s in scores], indent=2))
    below = [s.module for s in scores if s.score < threshold]
    if below or stale:
        print(f"FAILED: {len(below)} module(s) below {100 * threshold:.0f} %"
              + (f", {len(stale)} stale equivalent entr{'y' if len(stale) == 1 else 'ies'}" if stale else ""))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
