"""SIP messages (RFC 3261 sections 7, 18.3, 20, 25), h11-style: bytes in, values out. Pure.

``parse_message(data)`` turns one datagram or one framed stream message into a ``SipRequest`` or
``SipResponse``; ``StreamFramer`` cuts a TCP/TLS byte stream into messages by ``Content-Length``;
``SipRequest.encode()`` / ``SipResponse.encode()`` serialize (``Content-Length`` always set from
the body). Anything malformed raises ``SipParseError`` naming the line or header at fault (the
caller answers 400 and counts it); nothing else escapes (tests/adapters/sip_blf/test_fuzz.py).

Wire rules kept: CRLF line ends (a bare LF is accepted, as most stacks do), leading CRLFs before a
start line skipped (RFC 3261 7.5; RFC 5626 keep-alives on streams), header folding (a line
starting with SP/HTAB continues the previous header), compact header names expanded
(``COMPACT_HEADERS``), comma-separated list headers split outside quotes and angle brackets
(``LIST_HEADERS``), header values decoded as UTF-8 with a Latin-1 fallback so a PBX's legacy
display name never rejects a NOTIFY. Caps (``SipLimits``) bound the header block, one header,
the header count and the body: a hostile peer cannot make us buffer or scan without limit.

Header helpers parse what a watcher needs: ``Via`` (transport, sent-by, branch, rport,
received), name-addr headers (From/To/Contact with tag and params), ``CSeq``, ``Expires``,
``Event``, ``Subscription-State`` (with RFC 6665 4.2.2's reason -> resubscribe table) and the
auth-param lists of ``WWW-Authenticate`` / ``Proxy-Authenticate`` (``digest.py`` uses them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from bridge.errors import BridgeError

SIP_VERSION = "SIP/2.0"


class SipParseError(BridgeError):
    """A SIP message (or one of its headers) is malformed; the text names what is wrong."""


class SipFramingError(SipParseError):
    """A byte stream can no longer be cut into messages: the connection must be closed."""


@dataclass(frozen=True, slots=True)
class SipLimits:
    """Caps on what one message may make us hold (defaults suit BLF, RLS bodies included)."""

    max_header_block: int = 32 * 1024  # start line + headers, bytes
    max_header_line: int = 8 * 1024  # one header after unfolding, bytes
    max_headers: int = 128
    max_body: int = 256 * 1024


DEFAULT_LIMITS = SipLimits()

# RFC 3261 7.3.3 and the IANA registry's compact forms -> full names.
COMPACT_HEADERS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
# Headers whose grammar is a comma-separated list (RFC 3261 7.3.1): one value per element.
# The auth headers are not lists of values (their params contain commas) and stay whole.
LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Via",
        "Contact",
        "Route",
        "Record-Route",
        "Allow",
        "Allow-Events",
        "Supported",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Content-Encoding",
    )
)
# Spelling we write for the names we know (matching is case-insensitive either way).
_CANONICAL_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (
        *COMPACT_HEADERS.values(),
        "CSeq",
        "Max-Forwards",
        "Expires",
        "Subscription-State",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Authorization",
        "Proxy-Authorization",
        "User-Agent",
        "Server",
        "Min-Expires",
        "Retry-After",
        "SIP-ETag",
        "SIP-If-Match",
        "Record-Route",
        "Route",
        "Accept",
        "Allow",
    )
}

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_STATUS_RE = re.compile(r"SIP/2\.0 ([1-6][0-9]{2})(?: (.*))?", re.IGNORECASE)
_REQUEST_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) (\S+) (SIP/2\.0)", re.IGNORECASE)
_DIGITS_RE = re.compile(r"[0-9]{1,10}")
MAX_DELTA_SECONDS = 2**32 - 1  # RFC 3261 20.19 / 6665: larger values are capped, not refused
MAX_CSEQ = 2**31 - 1  # RFC 3261 8.1.1.5


def canonical_name(name: str) -> str:
    """``"i"`` -> ``"Call-ID"``, ``"call-id"`` -> ``"Call-ID"``; unknown names kept as written."""
    lowered = name.lower()
    full = COMPACT_HEADERS.get(lowered)
    if full is not None:
        return full
    return _CANONICAL_NAMES.get(lowered, name)


@dataclass(frozen=True, slots=True)
class _Message:
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def get(self, name: str) -> str | None:
        """The first header line called ``name`` (compact forms and case folded), else None."""
        wanted = canonical_name(name).lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def values(self, name: str) -> list[str]:
        """Every value of ``name``: list headers split into elements, in wire order."""
        wanted = canonical_name(name).lower()
        out: list[str] = []
        for key, value in self.headers:
            if key.lower() == wanted:
                out.extend(split_list(value) if wanted in LIST_HEADERS else [value])
        return out

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"missing {canonical_name(name)} header")
        return value

    @property
    def call_id(self) -> str:
        return self.require("Call-ID").strip()

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self.require("CSeq"))

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self.require("From"))

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self.require("To"))

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.values("Via")]

    @property
    def content_type(self) -> str | None:
        """The media type, lower-cased and without parameters (``application/pidf+xml``)."""
        value = self.get("Content-Type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower() or None

    def _encode(self, start: str) -> bytes:
        lines = [start]
        for name, value in self.headers:
            if name.lower() == "content-length":
                continue
            _check_header_text(name, value)
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass(frozen=True, slots=True)
class SipRequest(_Message):
    method: str = ""
    uri: str = ""

    def encode(self) -> bytes:
        if not _TOKEN_RE.fullmatch(self.method) or not self.uri or any(c in self.uri for c in " \r\n"):
            raise ValueError(f"cannot encode a request with method {self.method!r} and URI {self.uri!r}")
        return self._encode(f"{self.method} {self.uri} {SIP_VERSION}")

    def __repr__(self) -> str:  # headers may carry caller names and credentials: keep reprs short
        return f"SipRequest({self.method} {self.uri}, {len(self.headers)} headers, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True)
class SipResponse(_Message):
    status: int = 0
    reason: str = ""

    def encode(self) -> bytes:
        if not 100 <= self.status <= 699 or any(c in self.reason for c in "\r\n"):
            raise ValueError(f"cannot encode a response with status {self.status!r}")
        return self._encode(f"{SIP_VERSION} {self.status} {self.reason}")

    def __repr__(self) -> str:
        size = f"{len(self.headers)} headers, {len(self.body)} bytes"
        return f"SipResponse({self.status} {self.reason}, {size})"


SipMessage = SipRequest | SipResponse


def _check_header_text(name: str, value: str) -> None:
    if not _TOKEN_RE.fullmatch(name) or "\r" in value or "\n" in value:
        raise ValueError(f"header {name!r} cannot be encoded (bad name or a line break in its value)")


# --- parsing ------------------------------------------------------------------------------------


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _split_head(data: bytes, limits: SipLimits) -> tuple[bytes, bytes]:
    """(header block, rest) of one message; leading CRLFs skipped."""
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipParseError("empty message")
    cut = _header_end(data)
    if cut is None:
        if len(data) > limits.max_header_block:
            raise SipParseError(f"header block over {limits.max_header_block} bytes")
        raise SipParseError("no blank line after the headers")
    head_end, body_start = cut
    if head_end > limits.max_header_block:
        raise SipParseError(f"header block over {limits.max_header_block} bytes")
    return data[:head_end], data[body_start:]


def _header_end(data: bytes) -> tuple[int, int] | None:
    """Where the header block ends and the body starts (CRLFCRLF, or LFLF from lenient stacks)."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return None
    if lf < 0 or (0 <= crlf < lf):
        return crlf, crlf + 4
    return lf, lf + 2


def _header_lines(head: bytes, limits: SipLimits) -> tuple[str, list[tuple[str, str]]]:
    lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
    for number, line in enumerate(lines, start=1):
        if b"\r" in line:  # a CR not ending a line: we could never echo such a header back safely
            raise SipParseError(f"line {number}: a bare CR")
    start = _decode(lines[0])
    headers: list[tuple[str, str]] = []
    for number, raw in enumerate(lines[1:], start=2):
        if raw[:1] in (b" ", b"\t"):
            if not headers:
                raise SipParseError(f"line {number}: a continuation line before any header")
            name, value = headers[-1]
            value = f"{value} {_decode(raw).strip()}".strip()
            if len(value) > limits.max_header_line:
                raise SipParseError(f"header {name} over {limits.max_header_line} bytes")
            headers[-1] = (name, value)
            continue
        if len(raw) > limits.max_header_line:
            raise SipParseError(f"line {number}: header over {limits.max_header_line} bytes")
        text = _decode(raw)
        name, colon, value = text.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN_RE.fullmatch(name):
            raise SipParseError(f"line {number}: not a 'Name: value' header")
        if len(headers) >= limits.max_headers:
            raise SipParseError(f"more than {limits.max_headers} headers")
        headers.append((canonical_name(name), value.strip(" \t")))
    return start, headers


def _content_length(headers: list[tuple[str, str]], limits: SipLimits) -> int | None:
    found: int | None = None
    for name, value in headers:
        if name != "Content-Length":
            continue
        value = value.strip()
        if not _DIGITS_RE.fullmatch(value):
            raise SipParseError(f"Content-Length {value[:20]!r} is not a number")
        number = int(value)
        if found is not None and number != found:
            raise SipParseError("two different Content-Length headers")
        found = number
    if found is not None and found > limits.max_body:
        raise SipParseError(f"body of {found} bytes over the {limits.max_body} byte limit")
    return found


def _start_line(start: str, headers: list[tuple[str, str]], body: bytes) -> SipMessage:
    frozen = tuple(headers)
    if start[:4].upper() == "SIP/":
        status = _STATUS_RE.fullmatch(start)
        if status is None:
            raise SipParseError(f"bad status line {start[:80]!r}")
        return SipResponse(frozen, body, int(status.group(1)), status.group(2) or "")
    request = _REQUEST_RE.fullmatch(start)
    if request is None:
        raise SipParseError(f"bad request line {start[:80]!r}")
    return SipRequest(frozen, body, request.group(1).upper(), request.group(2))


def parse_message(data: bytes, limits: SipLimits = DEFAULT_LIMITS, *, stream: bool = False) -> SipMessage:
    """Parse one message. Datagrams may omit Content-Length (the body is the rest, RFC 3261
    18.3) and extra bytes past it are dropped; ``stream=True`` requires it (the framer does)."""
    head, rest = _split_head(data, limits)
    start, headers = _header_lines(head, limits)
    length = _content_length(headers, limits)
    if length is None:
        if stream:
            raise SipParseError("no Content-Length on a stream transport")
        if len(rest) > limits.max_body:
            raise SipParseError(f"body over the {limits.max_body} byte limit")
        body = rest
    else:
        if len(rest) < length:
            raise SipParseError(f"body shorter ({len(rest)} bytes) than its Content-Length ({length})")
        body = rest[:length]
    return _start_line(start, headers, body)


@dataclass(slots=True)
class StreamFramer:
    """Cuts a TCP/TLS byte stream into whole messages (RFC 3261 18.3: Content-Length frames).

    ``feed(data)`` returns the raw bytes of each complete message (parse them with
    ``parse_message(..., stream=True)``: a bad header there is one 400, not a lost connection).
    ``SipFramingError`` means the stream cannot be resynchronised (a header block or body over
    the caps, a missing or bad Content-Length): close the connection. CRLF keep-alives between
    messages are skipped; ``keepalive_bytes`` counts them.
    """

    limits: SipLimits = DEFAULT_LIMITS
    keepalive_bytes: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _broken: str | None = None

    def feed(self, data: bytes) -> list[bytes]:
        if self._broken is not None:
            raise SipFramingError(f"stream already unusable: {self._broken}")
        self._buffer += data
        frames: list[bytes] = []
        try:
            while (frame := self._next()) is not None:
                frames.append(frame)
        except SipParseError as exc:
            self._broken = str(exc)
            self._buffer.clear()
            raise SipFramingError(str(exc)) from exc
        return frames

    def _next(self) -> bytes | None:
        buffer = self._buffer
        skipped = 0
        while skipped < len(buffer) and buffer[skipped] in (0x0D, 0x0A):
            skipped += 1
        if skipped:
            self.keepalive_bytes += skipped
            del buffer[:skipped]
        if not buffer:
            return None
        cut = _header_end(bytes(buffer[: self.limits.max_header_block + 4]))
        if cut is None:
            if len(buffer) > self.limits.max_header_block:
                raise SipParseError(f"header block over {self.limits.max_header_block} bytes")
            return None
        head_end, body_start = cut
        if head_end > self.limits.max_header_block:
            raise SipParseError(f"header block over {self.limits.max_header_block} bytes")
        _, headers = _header_lines(bytes(buffer[:head_end]), self.limits)
        length = _content_length(headers, self.limits)
        if length is None:
            raise SipParseError("no Content-Length on a stream transport")
        end = body_start + length
        if len(buffer) < end:
            return None
        frame = bytes(buffer[:end])
        del buffer[:end]
        return frame


# --- header values ------------------------------------------------------------------------------


def _split_outside_quotes(text: str, separator: str, *, angles: bool) -> list[str]:
    """Cut ``text`` at ``separator`` where it stands outside quoted strings (and <...>)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = angle = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif angles and not quoted and char in "<>":
            angle = char == "<"
        elif char == separator and not quoted and not angle:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def split_list(value: str) -> list[str]:
    """Split a list header on commas outside quoted strings and <...> (RFC 3261 7.3.1)."""
    return [part.strip() for part in _split_outside_quotes(value, ",", angles=True) if part.strip()]


def unquote(value: str) -> str:
    """``"a\\"b"`` -> ``a"b``; an unquoted value is returned stripped."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def quote(value: str) -> str:
    """A quoted-string for a header parameter (RFC 3261 25.1)."""
    if any(c in value for c in "\r\n"):
        raise ValueError("a quoted string cannot hold a line break")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_params(text: str, separator: str = ";") -> dict[str, str | None]:
    """``;a=1;b;c="x y"`` -> ``{"a": "1", "b": None, "c": "x y"}`` (names lower-cased; the
    first occurrence of a name wins)."""
    params: dict[str, str | None] = {}
    for item in _split_outside_quotes(text, separator, angles=False):
        item = item.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        key = name.strip().lower()
        if not key:
            raise SipParseError(f"empty parameter name in {text[:80]!r}")
        params.setdefault(key, unquote(value) if eq else None)
    return params


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From/To/Contact value: display name, URI and header params (``tag``, ``expires``...)."""

    uri: str
    display: str = ""
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def encode(self) -> str:
        text = f"{quote(self.display)} <{self.uri}>" if self.display else f"<{self.uri}>"
        for name, value in self.params.items():
            text += f";{name}" if value is None else f";{name}={_param_value(value)}"
        return text


def _param_value(value: str) -> str:
    return value if _TOKEN_RE.fullmatch(value) else quote(value)


def parse_name_addr(value: str) -> NameAddr:
    """``"Alice" <sip:a@b>;tag=x`` or ``sip:a@b;tag=x`` (RFC 3261 20.10: without <>, every
    ``;param`` belongs to the header, not the URI)."""
    value = value.strip()
    if "<" in value:
        before, _, after = value.partition("<")
        uri, closed, rest = after.partition(">")
        if not closed or not uri.strip():
            raise SipParseError(f"unterminated or empty <URI> in {value[:80]!r}")
        display = unquote(before)
        rest = rest.strip()
        if rest and not rest.startswith(";"):
            raise SipParseError(f"unexpected text after <URI> in {value[:80]!r}")
        return NameAddr(uri.strip(), display, parse_params(rest))
    uri, _, rest = value.partition(";")
    if not uri.strip() or " " in uri.strip():
        raise SipParseError(f"bad address {value[:80]!r}")
    return NameAddr(uri.strip(), "", parse_params(rest))


@dataclass(frozen=True, slots=True)
class Via:
    """One Via element: ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport=...;received=...``."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The port the server saw us on (RFC 3581), when it filled the parameter in."""
        value = self.params.get("rport")
        return int(value) if value and value.isdigit() and int(value) <= 65535 else None

    def encode(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{SIP_VERSION}/{self.transport} {host}" + (f":{self.port}" if self.port is not None else "")
        for name, value in self.params.items():
            text += f";{name}" if value is None else f";{name}={value}"
        return text


_VIA_RE = re.compile(
    r"SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-]+)\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::([0-9]{1,5}))?\s*(;.*)?",
    re.IGNORECASE | re.DOTALL,
)


def parse_via(value: str) -> Via:
    match = _VIA_RE.fullmatch(value.strip())
    if match is None:
        raise SipParseError(f"bad Via {value[:80]!r}")
    port = int(match.group(3)) if match.group(3) else None
    if port is not None and not 0 < port <= 65535:
        raise SipParseError(f"Via port {port} out of range")
    host = match.group(2).strip("[]")
    return Via(match.group(1).upper(), host, port, parse_params(match.group(4) or ""))


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2 or not _DIGITS_RE.fullmatch(parts[0]) or not _TOKEN_RE.fullmatch(parts[1]):
        raise SipParseError(f"bad CSeq {value[:80]!r}")
    number = int(parts[0])
    if number > MAX_CSEQ:
        raise SipParseError(f"CSeq {number} over 2**31-1")
    return CSeq(number, parts[1].upper())


def parse_delta_seconds(value: str, what: str = "Expires") -> int:
    """A delta-seconds value; larger than 2**32-1 is capped (RFC 3261 20.19), junk raises."""
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        raise SipParseError(f"{what} {value[:20]!r} is not a number of seconds")
    if len(value) > 10:  # over 2**32 anyway; and int() of thousands of digits would raise
        return MAX_DELTA_SECONDS
    return min(int(value), MAX_DELTA_SECONDS)


@dataclass(frozen=True, slots=True)
class EventHeader:
    package: str
    id: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)


def parse_event(value: str) -> EventHeader:
    package, _, rest = value.partition(";")
    package = package.strip().lower()
    if not _TOKEN_RE.fullmatch(package):
        raise SipParseError(f"bad Event {value[:80]!r}")
    params = parse_params(rest)
    return EventHeader(package, params.get("id"), params)


class SubState(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    TERMINATED = "terminated"


class Resubscribe(StrEnum):
    """What RFC 6665 4.2.2 lets a subscriber do after a ``terminated`` reason."""

    NOW = "now"  # deactivated, timeout: retry at once
    AFTER_RETRY_AFTER = "after_retry_after"  # probation, giveup: wait retry-after (or a backoff)
    NEVER = "never"  # rejected, noresource, invariant: retrying will not help
    BACKOFF = "backoff"  # no or an unknown reason (RFC 6665: like an unrecognised one, may retry)


TERMINATED_REASON_TO_RESUBSCRIBE: dict[str, Resubscribe] = {
    "deactivated": Resubscribe.NOW,
    "timeout": Resubscribe.NOW,
    "probation": Resubscribe.AFTER_RETRY_AFTER,
    "giveup": Resubscribe.AFTER_RETRY_AFTER,
    "rejected": Resubscribe.NEVER,
    "noresource": Resubscribe.NEVER,
    "invariant": Resubscribe.NEVER,
}


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    state: SubState
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None

    @property
    def resubscribe(self) -> Resubscribe | None:
        """How to resubscribe after ``terminated`` (None while the subscription lives)."""
        if self.state is not SubState.TERMINATED:
            return None
        return TERMINATED_REASON_TO_RESUBSCRIBE.get(self.reason or "", Resubscribe.BACKOFF)


def parse_subscription_state(value: str) -> SubscriptionState:
    head, _, rest = value.partition(";")
    try:
        state = SubState(head.strip().lower())
    except ValueError:
        raise SipParseError(f"unknown Subscription-State {head.strip()[:40]!r}") from None
    params = parse_params(rest)
    expires = params.get("expires")
    retry = params.get("retry-after")
    reason = params.get("reason")
    return SubscriptionState(
        state,
        parse_delta_seconds(expires, "Subscription-State expires") if expires is not None else None,
        reason.lower() if reason else None,
        parse_delta_seconds(retry, "Subscription-State retry-after") if retry is not None else None,
    )


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", nonce="y", qop="auth"`` -> ``("digest", {...})`` (names lower-cased;
    valueless params dropped, the first of a duplicated name wins)."""
    scheme, _, rest = value.strip().partition(" ")
    if not _TOKEN_RE.fullmatch(scheme):
        raise SipParseError(f"bad auth scheme in {value[:40]!r}")
    params = {k: v for k, v in parse_params(rest, ",").items() if v is not None}
    return scheme.lower(), params


def auth_challenges(response: SipResponse) -> list[tuple[str, str]]:
    """(header name, value) of every WWW-Authenticate (401) / Proxy-Authenticate (407)."""
    wanted = ("WWW-Authenticate", "Proxy-Authenticate")
    return [(name, value) for name, value in response.headers if name in wanted]


# --- building -----------------------------------------------------------------------------------


def response_to(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> SipResponse:
    """A response copying Via, From, To, Call-ID and CSeq (RFC 3261 8.2.6.2); ``to_tag`` is added
    when the request's To has none. Works on a request whose other headers are broken, so even
    a malformed NOTIFY can be answered 400 if these five survived."""
    copied: list[tuple[str, str]] = []
    for name, value in request.headers:
        if name == "To" and to_tag is not None and ";tag=" not in value.replace(" ", "").lower():
            value = f"{value};tag={to_tag}"
        if name in ("Via", "From", "To", "Call-ID", "CSeq"):
            copied.append((name, value))
    return SipResponse((*copied, *extra), b"", status, reason)
