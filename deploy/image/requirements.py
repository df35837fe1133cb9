"""Print the image's runtime requirements: pyproject's dependencies less what only analysis uses.

One list of dependencies (pyproject.toml); the image leaves out RUNTIME_EXCLUDED, which only the
report needs (the report is built on the student's machine from the run directory).
"""
import pathlib
import re
import sys
import tomllib

RUNTIME_EXCLUDED = {"matplotlib"}

pyproject = tomllib.loads((pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
for requirement in pyproject["project"]["dependencies"]:
    name = re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()
    if name not in RUNTIME_EXCLUDED:
        sys.stdout.write(requirement + "\n")
