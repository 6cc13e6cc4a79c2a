"""Bad files through the real command line: a clear ``file:line`` problem, exit 2, no traceback,
bounded time and memory (issue 11, item 3).

Each case is a file an admin with a messy machine could point the bridge at; before the fix each
one gave a traceback (``UnicodeDecodeError``, ``ValueError: Exceeds the limit (4300 digits)``,
``MemoryError``, ``RecursionError``) or hung for ever (a FIFO). Every case runs ``check`` and
``run``; the other commands that load a configuration run two of them (they share the loader).

Each command runs under a small Python wrapper that starts it as its own only child, so
``getrusage(RUSAGE_CHILDREN)`` there is that command's peak RSS and CPU time alone (in this
process it would be the largest of every child the test session ever started). The CPU bound is
the issue's 1 s; the wall-clock bound is looser, since the machine is shared, and is there to catch
a hang.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

CPU_LIMIT = 1.0  # seconds of CPU for the whole command, interpreter start-up included
WALL_LIMIT = 8.0  # seconds: a hang (a FIFO read) would never end
RSS_LIMIT_KB = 100 * 1024
ENV = {"GRAPH_SECRET": "graph-secret-value-1", "CTI_TOKEN": "cti-token-value-0123"}

BASE = """\
tenants:
  t1:
    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10
    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38
    client_secret: ${GRAPH_SECRET}
adapters:
  pbx: {kind: generic_cti, token: "${CTI_TOKEN}", http_listen: "127.0.0.1:0"}
people:
  - upn: alice@contoso.com
    endpoints: [{adapter: pbx, extension: "1001"}]
"""
SECRET_LINE = 5  # the client_secret line of BASE

# The classic "billion laughs" in YAML: nine levels of nine aliases, 387 million strings (835 bytes
# as the issue measured it, with its own key names; this one is the same shape).
BOMB = 'lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@dataclass(frozen=True)
class Made:
    config: Path  # what -c names
    named: Path  # the file the problem must name
    lines: range | None  # the configuration line(s) the problem may name (None: no line to name)
    line_of: Path | None = None  # the file whose line is named (default: the configuration)


def _config(tmp: Path, text: str | bytes) -> Path:
    path = tmp / "bridge.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def non_utf8_config(tmp: Path) -> Made:
    text = BASE + "state:\n  path: caf\xe9.db\n"
    path = _config(tmp, text.encode("latin-1"))  # é as one byte 0xE9: not UTF-8
    line = _line_of(text, "caf")
    return Made(path, path, range(line, line + 1))


def secret_file(content: bytes | None, name: str = "secret.bin") -> Callable[[Path], Made]:
    def make(tmp: Path) -> Made:
        secret = tmp / name
        if content is None:
            os.mkfifo(secret)  # nobody ever writes: opening it for reading would block for ever
        else:
            secret.write_bytes(content)
        path = _config(tmp, BASE.replace("client_secret: ${GRAPH_SECRET}", f"client_secret_file: {secret}"))
        return Made(path, secret, range(SECRET_LINE, SECRET_LINE + 1))

    return make


def dev_zero_secret(tmp: Path) -> Made:
    path = _config(tmp, BASE.replace("client_secret: ${GRAPH_SECRET}", "client_secret_file: /dev/zero"))
    return Made(path, Path("/dev/zero"), range(SECRET_LINE, SECRET_LINE + 1))


def config_is(target: str) -> Callable[[Path], Made]:
    def make(tmp: Path) -> Made:
        if target == "fifo":
            path = tmp / "bridge.yaml"
            os.mkfifo(path)
            return Made(path, path, None)
        return Made(Path(target), Path(target), None)

    return make


def appended(extra: str, needle: str, span: int = 1) -> Callable[[Path], Made]:
    def make(tmp: Path) -> Made:
        text = BASE + extra
        line = _line_of(text, needle)
        return Made(_config(tmp, text), tmp / "bridge.yaml", range(line, line + span))

    return make


def people_csv(content: bytes | None) -> Callable[[Path], Made]:
    def make(tmp: Path) -> Made:
        csv = tmp / "people.csv"
        if content is None:
            os.mkfifo(csv)
        else:
            csv.write_bytes(content)
        text = BASE + "  - {csv: people.csv, adapter: pbx}\n"
        path = _config(tmp, text)
        if content is None:  # nothing to read: the csv: key's line in the YAML
            line = _line_of(text, "csv:")
            return Made(path, csv, range(line, line + 1))
        bad = content.split(b"\n").index(next(r for r in content.split(b"\n") if b"\xff" in r)) + 1
        return Made(path, csv, range(bad, bad + 1), line_of=csv)

    return make


def inline_secret(tmp: Path) -> Made:
    path = _config(tmp, BASE.replace("${GRAPH_SECRET}", "graph-secret-written-here"))
    return Made(path, path, range(SECRET_LINE, SECRET_LINE + 1))


CASES: dict[str, Callable[[Path], Made]] = {
    "non-utf8-config": non_utf8_config,
    "binary-secret-file": secret_file(bytes(range(256)) * 4),
    "secret-file-is-dev-zero": dev_zero_secret,
    "secret-file-is-a-fifo": secret_file(None, "secret.fifo"),
    "oversize-secret-file": secret_file(b"x" * (1 << 20), "secret.txt"),
    "5000-digit-integer": appended("state: {start_wait_seconds: " + "9" * 5000 + "}\n", "start_wait"),
    "alias-bomb": appended(BOMB, "&a", span=BOMB.count("\n")),
    "alias-loop": appended("mapping: &loop {adapters: *loop}\n", "&loop"),
    "deep-nesting": appended("mapping: " + "[" * 500 + "]" * 500 + "\n", "mapping: ["),
    "impossible-date": appended("state: {path: 2001-13-45}\n", "2001-13-45"),
    "config-is-a-fifo": config_is("fifo"),
    "config-is-dev-zero": config_is("/dev/zero"),
    "people-csv-not-utf8": people_csv(b"person,extension\nalice@contoso.com,1001\nb\xffb@contoso.com,1002\n"),
    "people-csv-is-a-fifo": people_csv(None),
    "inline-secret": inline_secret,
}

WRAPPER = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    start = time.monotonic()
    try:
        done = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))
        code, err = done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, err = None, (exc.stderr or b"").decode(errors="replace")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"code": code, "stderr": err, "wall": time.monotonic() - start,
                      "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss}))
    """
)


def run_cli(*args: str) -> dict[str, object]:
    """The command's exit code, stderr, wall and CPU seconds and peak RSS (KiB), measured alone."""
    command = [sys.executable, "-c", "import sys; from bridge.cli import main; sys.exit(main())", *args]
    env = {**os.environ, **ENV}
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(WALL_LIMIT), *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=WALL_LIMIT + 30,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def assert_clean_refusal(made: Made, result: dict[str, object], tmp: Path) -> None:
    err = str(result["stderr"])
    assert result["code"] == 2, f"exit {result['code']}, stderr:\n{err}"
    assert "Traceback" not in err, err
    assert str(made.named) in err, f"{made.named} not named:\n{err}"
    if made.lines is not None:
        where = made.line_of or made.config
        named = [int(n) for n in re.findall(rf"{re.escape(str(where))}:(\d+):", err)]
        assert any(n in made.lines for n in named), f"no line of {where} in {list(made.lines)}:\n{err}"
    for secret in ENV.values():
        assert secret not in err
    assert float(result["cpu"]) < CPU_LIMIT, result  # type: ignore[arg-type]
    assert float(result["wall"]) < WALL_LIMIT, result  # type: ignore[arg-type]
    assert int(result["rss_kb"]) < RSS_LIMIT_KB, result  # type: ignore[call-overload]


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_a_clear_problem_not_a_traceback(case: str, command: str, tmp_path: Path) -> None:
    made = CASES[case](tmp_path)
    assert_clean_refusal(made, run_cli(command, "-c", str(made.config)), tmp_path)


@pytest.mark.parametrize("case", ["alias-bomb", "secret-file-is-a-fifo"])
@pytest.mark.parametrize(
    "command", [["release"], ["status"], ["mapping", "report"], ["demo"]], ids=lambda c: "-".join(c)
)
def test_every_command_that_loads_a_config_refuses_it_the_same_way(
    case: str, command: list[str], tmp_path: Path
) -> None:
    made = CASES[case](tmp_path)
    assert_clean_refusal(made, run_cli(*command, "-c", str(made.config)), tmp_path)
