"""Safe, tolerant XML for NOTIFY bodies (dialog-info, PIDF, reginfo). Pure.

Parsing goes through defusedxml only: a DTD, an entity declaration or an external reference
rejects the body (no billion laughs, no XXE). Element and attribute names are compared by local
name, lower-cased, so a missing or different namespace prefix and PBX capitalisation quirks
(``<Dialog-Info>``, ``State``) read the same. A body that uses an undeclared prefix
(``<rpid:away/>`` with no ``xmlns:rpid``, seen from hand-made PUBLISHes) is read once more with
element prefixes stripped. Anything else malformed raises ``SipBodyError`` naming the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from adapters.sip_blf.message import SipParseError

DEFAULT_MAX_BODY = 256 * 1024
_ELEMENT_PREFIX = re.compile(rb"<(/?)[A-Za-z_][\w.\-]*:")


class SipBodyError(SipParseError):
    """A NOTIFY body could not be read (malformed, forbidden XML, over a cap)."""


def parse_xml(body: bytes, *, max_body: int = DEFAULT_MAX_BODY) -> Element:
    if len(body) > max_body:
        raise SipBodyError(f"XML body of {len(body)} bytes over the {max_body} byte limit")
    try:
        return _parse(body)
    except ParseError as exc:
        if "unbound prefix" not in str(exc):
            raise SipBodyError(f"malformed XML: {exc}") from None
    try:
        return _parse(_ELEMENT_PREFIX.sub(rb"<\1", body))
    except ParseError as exc:
        raise SipBodyError(f"malformed XML: {exc}") from None


def _parse(body: bytes) -> Element:
    try:
        root: Element = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise SipBodyError(f"forbidden XML construct: {type(exc).__name__}") from None
    except (ValueError, TypeError, LookupError, RecursionError) as exc:  # e.g. encoding="TF-8"
        raise SipBodyError(f"unreadable XML: {type(exc).__name__}") from None
    return root


def versioned_document(body: bytes, root_name: str, *, max_body: int) -> tuple[Element, int, bool] | None:
    """(root, version, full) of a versioned state document (dialog-info, reginfo: RFC 4235 4.1,
    RFC 3680 5); None for an empty body."""
    if not body.strip():
        return None
    root = parse_xml(body, max_body=max_body)
    if local(root.tag) != root_name:
        raise SipBodyError(f"root element is <{local(root.tag)[:40]}>, not <{root_name}>")
    version = (attr(root, "version") or "").strip()
    if not version.isascii() or not version.isdigit() or len(version) > 10:
        raise SipBodyError(f"{root_name} version missing or not a number")
    state = (attr(root, "state") or "").strip().lower()
    if state not in ("full", "partial"):
        raise SipBodyError(f"{root_name} state is neither full nor partial")
    return root, int(version), state == "full"


def local(tag: object) -> str:
    """``{urn:...}Dialog`` -> ``dialog`` (comments and processing instructions -> "")."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def children(element: Element, name: str) -> Iterator[Element]:
    for child in element:
        if local(child.tag) == name:
            yield child


def child(element: Element, name: str) -> Element | None:
    return next(children(element, name), None)


def descendants(element: Element, name: str) -> Iterator[Element]:
    for node in element.iter():
        if node is not element and local(node.tag) == name:
            yield node


def attr(element: Element, name: str) -> str | None:
    """An attribute by local name, case-insensitive."""
    for key, value in element.attrib.items():
        if local(key) == name:
            return value
    return None


def text(element: Element | None) -> str:
    if element is None:
        return ""
    return "".join(element.itertext()).strip()
