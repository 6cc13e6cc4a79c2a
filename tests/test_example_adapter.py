"""The example adapter (examples/lineproto) works from its own folder and is mostly protocol.

Issue 9's promise to adapter writers: an adapter outside this repository runs the shipped contract
with only the installed presence-bridge, and the SDK leaves it little but its own protocol.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from adapters.testing import AdapterContract

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lineproto"
GUIDE = ROOT / "docs" / "writing-an-adapter.md"

# What the bridge makes an adapter write besides its protocol (see test_the_example_is_mostly_protocol).
WIRING = {"__init__", "create"}  # whole body: hands the config and deps over
HOOKS = {"__init__", "create", "run_session", "went_blind"}  # header lines: the SDK names them
SETTINGS = {"kind", "config_model", "model_config", "FACTORY"}  # what the registry reads


def test_the_example_passes_its_own_tests_from_its_own_folder() -> None:
    """``cd examples/lineproto && python -m pytest``: the shipped contract (pytest plugin), the
    parse table and its own tests, with the installed package only (this repository's ``tests``
    is not on the path there)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-v", "-rs"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "rootdir: " + str(EXAMPLE) in out, "it must run with the example's own configuration"
    contract = sorted(name for name in dir(AdapterContract) if name.startswith("test_"))
    assert len(contract) >= 10
    for name in contract:
        assert f"TestLineProtoContract::{name} PASSED" in out, f"contract case {name} did not pass:\n{out}"
    assert "test_parse.py::test_each_console_line_gives_its_fact" in out


def test_without_pytest_asyncio_the_plugin_says_what_is_missing() -> None:
    """The contract's tests are coroutines: without pytest-asyncio pytest would skip every one of
    them with a warning; the plugin stops the run and names the package to install instead."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "tests/test_contract.py",
        ],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "needs pytest-asyncio (pip install pytest-asyncio)" in result.stdout + result.stderr


def _span(node: ast.AST) -> set[int]:
    first = min([getattr(node, "lineno", 0)] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return set(range(first, (getattr(node, "end_lineno", None) or first) + 1))


def _header(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    return set(range(min(_span(node)), node.body[0].lineno))


def _docstrings(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    lines |= _span(first)
    return lines


def _code_lines(source: str, tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    skip |= {tokenize.ENCODING, tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - _docstrings(tree)


def _plumbing(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            lines |= _span(node)
        elif isinstance(node, ast.ClassDef):
            lines |= _header(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines |= _span(node) if node.name in WIRING else _header(node) if node.name in HOOKS else set()
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in SETTINGS for t in targets):
                lines |= _span(node)
    return lines


def test_the_example_is_mostly_protocol() -> None:
    """At least 60 % of lineproto.py's code lines are its own protocol (issue 9).

    How lines are counted: a code line is any line with a token on it that is not a comment or part
    of a docstring (blank lines, comments and docstrings do not count either way). A code line is
    plumbing when it is an import; a ``class`` header; the header of a method the SDK calls
    (``run_session``, ``went_blind``, ``__init__``, ``create``); any line of ``__init__`` or
    ``create`` (they only hand the config over); or an assignment of what the registry reads
    (``kind``, ``config_model``, ``model_config``, ``FACTORY``). Every other code line is protocol:
    the PBX's word tables, ``parse``, the config fields, the timing that follows from the PBX's
    keep-alive, and the bodies of ``run_session`` and ``went_blind``.
    """
    source = (EXAMPLE / "lineproto.py").read_text()
    tree = ast.parse(source)
    code = _code_lines(source, tree)
    plumbing = _plumbing(tree) & code
    protocol = code - plumbing
    share = len(protocol) / len(code)
    assert share >= 0.6, f"{len(protocol)} of {len(code)} code lines are protocol ({share:.0%})"
    assert len(code) <= 60, f"{len(code)} code lines: the example should stay small enough to read at once"


def test_the_guide_quotes_the_example_as_it_is() -> None:
    """docs/writing-an-adapter.md shows the example's code; a block headed ``# examples/<file>``
    must appear in that file word for word, so the guide cannot drift from code that is tested."""
    blocks = re.findall(r"```\w*\n# (examples/\S+)\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert len(blocks) >= 5
    for path, body in blocks:
        assert body in (ROOT / path).read_text(), f"the guide's block from {path} is not in that file"
