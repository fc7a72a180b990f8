"""Open311 documents and errors as JSON or XML responses."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import Request
from fastapi.responses import JSONResponse, Response

FORMATS = ("json", "xml")
# XML 1.0 cannot carry these characters at all, escaped or not.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Children of these lists are named like this in XML.
_XML_ITEMS = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def _xml_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _xml_fill(element: ET.Element, value: object) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _xml_child(element, str(key), child)
    else:
        element.text = _xml_text(value)


def _xml_child(parent: ET.Element, tag: str, value: object) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, list | tuple):
        for item in value:
            _xml_fill(ET.SubElement(element, _XML_ITEMS.get(tag, "item")), item)
    else:
        _xml_fill(element, value)


def render(
    fmt: str, payload: Sequence[Mapping[str, Any]] | Mapping[str, Any], *, root: str, item: str = ""
) -> Response:
    """The payload as JSON, or as XML under `root` (list items named `item`)."""
    return render_status(fmt, payload, root=root, item=item, status_code=200)


def render_status(
    fmt: str,
    payload: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    root: str,
    item: str = "",
    status_code: int,
) -> Response:
    """`render` with another status than 200."""
    if fmt != "xml":
        return JSONResponse(
            payload, status_code=status_code, media_type="application/json; charset=utf-8"
        )
    element = ET.Element(root)
    if isinstance(payload, Mapping):
        _xml_fill(element, payload)
    else:
        for entry in payload:
            _xml_fill(ET.SubElement(element, item), entry)
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="unicode")
    return Response(
        body.encode("utf-8"), status_code=status_code, media_type="text/xml; charset=utf-8"
    )


def error_response(fmt: str, status_code: int, description: str) -> Response:
    """The spec's error body: [{code, description}] / <errors><error>...</error></errors>."""
    return render_status(
        fmt,
        [{"code": status_code, "description": description}],
        root="errors",
        item="error",
        status_code=status_code,
    )


def format_of(request: Request) -> str:
    """The format a request's suffix asks for (JSON when it is none we speak)."""
    fmt = request.path_params.get("format")
    if fmt is None:
        fmt = request.url.path.rsplit(".", 1)[-1] if "." in request.url.path else "json"
    return fmt if fmt in FORMATS else "json"
