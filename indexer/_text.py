"""Bytes to text for extraction: encoding choice, binary sniffing, whitespace."""

from __future__ import annotations

import codecs
import os
import re

from bs4.dammit import UnicodeDammit

from indexer.errors import ExtractionError

# Pages declare their charset near the top; browsers prescan 1 KB, clinic
# templates sometimes push the meta tag further down behind inline styles.
_PRESCAN_BYTES = 16_384
_META_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# WHATWG: these labels mean windows-1252 on the web (C1 bytes are curly quotes,
# dashes, ...), and an ASCII-compatible page cannot really be UTF-16/32.
_AS_CP1252 = {"iso8859-1", "latin-1", "ascii", "cp1252"}
_AS_UTF8 = {"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}

_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")


def decode_page(data: bytes) -> str:
    """Decode page bytes: BOM, else declared charset, else UTF-8, else sniffed.

    A BOM beats the declared charset because it cannot lie (as in browsers).
    Raises ExtractionError for empty, binary or undecodable input.
    """
    if not data.strip():
        raise ExtractionError("empty page")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom):], encoding, "byte-order mark")
    _reject_binary(data)
    declared = declared_encoding(data)
    if declared:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass  # the declaration lies; sniff like a browser would
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        pass
    dammit = UnicodeDammit(data, is_html=True)
    if dammit.unicode_markup is not None:
        return dammit.unicode_markup
    return data.decode("latin-1")  # cannot fail; keeps the ASCII labels readable


def declared_encoding(data: bytes) -> str | None:
    """The Python codec named by the page's meta charset or XML declaration."""
    head = data[:_PRESCAN_BYTES]
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    if name in _AS_CP1252:
        return "cp1252"
    if name in _AS_UTF8:
        return "utf-8"
    return name


def _strict(data: bytes, encoding: str, why: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ExtractionError(f"undecodable page: not {encoding} despite its {why}") from exc


def _reject_binary(data: bytes) -> None:
    sample = data[:_PRESCAN_BYTES]
    if sample.count(0) > len(sample) // 100 or len(_CONTROL_BYTES.findall(sample)) > len(sample) // 10:
        raise ExtractionError("binary data, not a page")


def clean(text: str) -> str:
    """Collapse every run of whitespace (incl. &nbsp;) to one space; drop invisibles."""
    return " ".join(_INVISIBLE.sub("", text).split())


def printable(path: str) -> str:
    """`path` as it can be printed and saved as JSON: a byte of a file name
    that is not UTF-8 becomes \\xNN, as Python's repr shows it. Used for the
    names a report lists and a record's `source`; the manifest keeps the exact
    names, so `update` still matches them with the folder."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
