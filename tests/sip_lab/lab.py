"""Kamailio as the SIP test lab: start it in a temp dir on a free port, prove it ready, stop it.

Every SIP test stands on this: a real registrar + proxy + presence server (``kamailio.cfg`` beside
this file, see ../shared/reference/sip-presence.md for the traps it handles) on 127.0.0.1 only.

- **Start**: a fresh run dir under /tmp (short: the ctl unix socket path must stay under 108
  bytes), copies of the shipped db_text tables (presence and pua insist on a db_url), a port
  chosen free at run time for UDP and TCP together, ``kamailio -DD -E`` in its own session with its
  log in a file (a pipe could fill and stall it). Ready means an OPTIONS probe was answered 200;
  the probe is retried against a deadline and gives up at once if kamailio exits (a port taken
  between choosing and binding is retried on a new port).
- **Stop**: SIGTERM to the main process (it stops its children), a bounded wait, then SIGKILL to
  the whole process group; afterwards no live process of the group may remain, else it raises.
- **Restart**: stop, then start again on the *same* port with empty state (everything kamailio
  knows lives in memory), which is what a watcher sees when a PBX restarts.
- **A killed test run** (SIGKILL, or SIGTERM, which skips every ``finally``) cannot stop its labs,
  so kamailio is started through ``setpriv --pdeathsig TERM``: the kernel sends it SIGTERM when
  the thread that started it ends. Hence start and restart a lab from a thread that outlives it
  (the fixtures use the test's main thread; ``asyncio.to_thread`` workers last until the loop
  closes). Without setpriv (util-linux) this net is missing; an ``atexit`` hook still stops labs
  a test forgot on a normal exit.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.sip_lab.probe import HOST, SipProbe

CONFIG = Path(__file__).with_name("kamailio.cfg")
SHIPPED_TABLES = Path("/usr/share/kamailio/dbtext/kamailio")
TABLES = ("version", "presentity", "active_watchers", "watchers", "xcap", "pua")
PASSWORD = "labpass"  # the config's one static password (LAB_PASSWORD) when auth is on
REALM = "127.0.0.1"
READY_BOUND = 10.0  # seconds; kamailio normally answers in 0.3 s
STOP_BOUND = 5.0


_RUNNING: set[KamailioLab] = set()  # a safety net for a test that forgot to stop its lab


@atexit.register
def _stop_forgotten_labs() -> None:
    for lab in list(_RUNNING):
        lab.stop()


class LabError(RuntimeError):
    """Kamailio did not start, answer or stop; the message carries the tail of its log."""


def find_kamailio() -> str | None:
    """The kamailio binary, also where a non-root PATH lacks /usr/sbin."""
    return shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/usr/local/sbin:/sbin")


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP right now (kamailio listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise LabError("no port free for both UDP and TCP on 127.0.0.1")


def live_group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid`` and that are not zombies (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def wait_gone(pids: list[int], bound: float) -> bool:
    """Whether all ``pids`` exit within ``bound`` seconds; waits on pidfds (they need not be our
    children), no polling."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            continue
    try:
        deadline = time.monotonic() + bound
        waiting = list(fds)
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select(waiting, [], [], remaining)
            waiting = [fd for fd in waiting if fd not in ready]
        return True
    finally:
        for fd in fds:
            os.close(fd)


class KamailioLab:
    """One Kamailio presence lab; ``auth`` turns on digest authentication (WITH_AUTH).

    ``auth_www_all`` makes SUBSCRIBE/PUBLISH challenges 401 instead of 407. ``shm_mb``/``pkg_mb``
    are kamailio's ``-m``/``-M``.
    """

    def __init__(
        self,
        *,
        auth: bool = False,
        auth_www_all: bool = False,
        shm_mb: int = 32,
        pkg_mb: int = 8,
        binary: str | None = None,
    ) -> None:
        found = binary or find_kamailio()
        if found is None:
            raise LabError("kamailio is not installed (Debian: kamailio, kamailio-presence-modules)")
        self.binary = found
        self.auth = auth
        self.auth_www_all = auth_www_all
        self.shm_mb = shm_mb
        self.pkg_mb = pkg_mb
        self.password = PASSWORD if auth else None
        self.realm = REALM
        self.port = 0
        self.startup_seconds = 0.0  # exec to first answered OPTIONS, last start
        self._dir = Path(tempfile.mkdtemp(prefix="kamlab-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._starts = 0
        self.last_pgid: int | None = None  # the process group of the last stopped instance

    @property
    def uri(self) -> str:
        return f"sip:{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def run_dir(self) -> Path:
        """The temp dir holding logs, db_text copies and the ctl socket (removed by ``close``)."""
        return self._dir

    @property
    def log_path(self) -> Path:
        return self._dir / f"kamailio-{self._starts}.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self) -> float:
        """Start on a fresh free port (first start) or the same port (after ``stop``); returns
        the seconds from exec to the first answered OPTIONS."""
        fixed = self.port != 0
        for attempt in range(1 if fixed else 3):
            try:
                return self._start_on(self.port if fixed else free_port())
            except LabError:
                if fixed or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def stop(self, bound: float = STOP_BOUND) -> None:
        """SIGTERM, ``bound`` seconds for it to work, then SIGKILL to the whole group; raises if
        any process of the group survives that."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the main process leads its own group
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(bound)
            except subprocess.TimeoutExpired:
                self._kill_group(pgid)
                proc.wait(STOP_BOUND)
        self.last_pgid = pgid
        _RUNNING.discard(self)
        if not wait_gone(live_group_members(pgid), bound):
            self._kill_group(pgid)
            if not wait_gone(live_group_members(pgid), STOP_BOUND):
                raise LabError(f"kamailio processes {live_group_members(pgid)} survived SIGKILL")

    def restart(self) -> float:
        """Stop and start again on the same port; returns the new start-up time."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove the run dir (idempotent; safe after a failed start)."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> KamailioLab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kamcmd(self, *args: str) -> str:
        """Run a kamcmd RPC against this instance's ctl socket (e.g. ``core.shmmem``)."""
        kamcmd = shutil.which("kamcmd") or shutil.which("kamcmd", path="/usr/sbin:/sbin")
        if kamcmd is None:
            raise LabError("kamcmd is not installed")
        result = subprocess.run(
            [kamcmd, "-s", f"unixs:{self._dir / 'ctl'}", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return result.stdout

    def _start_on(self, port: int) -> float:
        if self._proc is not None:
            raise LabError("kamailio is already running")
        self._starts += 1
        run = self._dir / f"run-{self._starts}"
        dbtext = run / "dbtext"
        dbtext.mkdir(parents=True)
        for table in TABLES:
            shutil.copy(SHIPPED_TABLES / table, dbtext / table)
        command = [
            self.binary,
            "-f", str(CONFIG),
            "-DD", "-E",
            "-m", str(self.shm_mb), "-M", str(self.pkg_mb),
            "-Y", str(run), "-P", str(run / "kamailio.pid"),
            "-A", f"LAB_PORT={port}",
            "-A", f'LAB_SELF="sip:{HOST}:{port}"',
            "-A", f'DBURL="text://{dbtext}"',
            "-A", f'CTLSOCK="unixs:{self._dir / "ctl"}"',
        ]  # fmt: skip
        setpriv = shutil.which("setpriv")
        if setpriv is not None:  # util-linux: SIGTERM to kamailio when the starting thread dies
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        if self.auth:
            command += ["-A", "WITH_AUTH"]
        if self.auth_www_all:
            command += ["-A", "AUTH_WWW_ALL"]
        began = time.monotonic()
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready(port, began)
        except LabError:
            self.stop()
            raise
        _RUNNING.add(self)
        self.port = port
        self.startup_seconds = time.monotonic() - began
        return self.startup_seconds

    def _wait_ready(self, port: int, began: float) -> None:
        deadline = began + READY_BOUND
        with SipProbe(port, user="probe") as probe:
            while time.monotonic() < deadline:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise LabError(f"kamailio exited with {self._proc.returncode}:\n{self.log_tail()}")
                try:
                    answer = probe.options(bound=0.05)
                except AssertionError:
                    continue  # not listening yet: the datagram was dropped; ask again
                if answer.status == 200:
                    return
        raise LabError(f"kamailio did not answer OPTIONS within {READY_BOUND}s:\n{self.log_tail()}")

    @staticmethod
    def _kill_group(pgid: int) -> None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
