"""``people:`` items ``{csv: FILE, tenant:, adapter:}``: people imported from a CSV file.

Rows are ``person, extension [, context][, role][, device]`` (a header row naming these columns
is optional; blank rows and ``#`` comments are skipped); rows of one person merge into one person
with several endpoints. ``person`` is an Entra object id (a GUID) or a UPN. The file is relative
to the YAML file's directory. Problems name the CSV file and row; the people it yields are
validated like inline ones, their problems reported at their rows.

The file is read like every file a configuration names (``bridge.kit.files``): a regular file of
at most ``CSV_FILE_LIMIT`` bytes of UTF-8 (a BOM is allowed), so a binary file, a FIFO or a device
is a problem at the ``csv:`` key (with the CSV line where the text breaks), and so is a row the
``csv`` module cannot read (a quoted field over its 128 KiB limit).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from bridge.config_references import several_tenants
from bridge.config_report import Origin, Report
from bridge.config_types import GUID
from bridge.kit.files import UnreadableFile, read_text_file

_COLUMNS = ("person", "extension", "context", "role", "device")
CSV_FILE_LIMIT = 32 * 1024 * 1024  # bytes: 100,000 rows are about 6 MB


def expand_people(raw: Any, tenants: list[str], base_dir: Path, report: Report) -> list[Any]:
    """The final people list: inline items as they are, CSV items replaced by their people."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        report.add(("people",), "must be a list of people")
        return []
    people: list[Any] = []
    for j, item in enumerate(raw):
        if isinstance(item, dict) and "csv" in item:
            for person, origin in _read_csv(item, j, tenants, base_dir, report):
                people.append(person)
                report.origins.append(origin)
        else:
            people.append(item)
            report.origins.append(Origin(j))
    return people


def _read_csv(
    item: dict[str, Any], j: int, tenants: list[str], base_dir: Path, report: Report
) -> list[tuple[dict[str, Any], Origin]]:
    def item_problem(key: str, message: str) -> None:
        report.at(report.source, report.yaml_line(("people", j, key)), f"people.{j}.{key}", message)

    for key in sorted(set(item) - {"csv", "tenant", "adapter"}):
        item_problem(key, "unknown key; allowed with csv: csv, tenant, adapter")
    tenant = item.get("tenant") or (tenants[0] if len(tenants) == 1 else None)
    if tenant is None:
        item_problem("tenant", several_tenants(tenants))
    adapter = item.get("adapter")
    if not isinstance(adapter, str) or not adapter:
        item_problem("adapter", "required with csv: the adapter these extensions belong to")
    path = base_dir / str(item["csv"])
    try:
        text = read_text_file(path, limit=CSV_FILE_LIMIT, encoding="utf-8-sig")
    except UnreadableFile as exc:
        if exc.line is not None:
            report.at(str(path), exc.line, f"people.{j}.csv", f"cannot read: {exc.reason}")
        else:
            item_problem("csv", f"cannot read {path}: {exc.reason}")
        return []
    if tenant is None or not isinstance(adapter, str) or not adapter:
        return []
    return _rows(text, str(path), j, tenant, adapter, report)


def _rows(
    text: str, file: str, j: int, tenant: str, adapter: str, report: Report
) -> list[tuple[dict[str, Any], Origin]]:
    columns = list(_COLUMNS)
    people: dict[str, tuple[dict[str, Any], Origin]] = {}
    first = True
    rows = csv.reader(io.StringIO(text))
    while True:
        try:
            row = next(rows, None)
        except csv.Error as exc:
            report.at(file, rows.line_num, f"people.{j}.csv", f"cannot read this row: {exc}")
            return []
        if row is None:
            break
        row_no = rows.line_num
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        is_header, first = first and cells[0].lower() == "person", False
        if is_header:
            named = [c.lower() for c in cells]
            if any(c not in _COLUMNS for c in named) or "extension" not in named:
                got = ", ".join(cells)
                report.at(
                    file,
                    row_no,
                    f"people.{j}.csv",
                    f"header must name person, extension and optionally context, role, device (got {got})",
                )
                return []
            columns = named
            continue
        if len(cells) > len(columns):
            report.at(
                file,
                row_no,
                f"people.{j}.csv",
                f"{len(cells)} columns; at most {len(columns)} ({', '.join(columns)})",
            )
            continue
        fields = dict(zip(columns, cells, strict=False))
        who, extension = fields.get("person", ""), fields.get("extension", "")
        if not who or not extension:
            report.at(file, row_no, f"people.{j}.csv", "every row needs a person and an extension")
            continue
        endpoint: dict[str, Any] = {"adapter": adapter, "extension": extension}
        endpoint.update({key: fields[key] for key in ("context", "role", "device") if fields.get(key)})
        if who.lower() not in people:
            identity = "id" if GUID.match(who) else "upn"
            people[who.lower()] = (
                {identity: who, "tenant": tenant, "endpoints": []},
                Origin(j, file, row_no),
            )
        person, origin = people[who.lower()]
        person["endpoints"].append(endpoint)
        origin.endpoint_rows.append(row_no)
    return list(people.values())
