"""Documents in: JSONL / BEIR ``corpus.jsonl`` files and Python iterables, validated line by line.

A document has an id (``_id`` or ``id``; strings or integers), a ``text`` and an optional
``title``; the encoded text is ``title + " " + text`` (just ``text`` when the title is empty).
Every other field becomes payload (``id`` too, when ``_id`` is the document id). Files may be
gzip, bzip2 or (with the ``zstandard`` package) zstd compressed; :func:`check_source` reads
the first line before anything else happens and says what is expected of a JSON array or CSV. Problems raise :class:`~splade_qdrant.errors.InputError`
naming the file, the line and the document id — or, with ``skip_bad=True``, are recorded in
a :class:`BadInput` list and the line is skipped.

Rules (documented in the README):

* an empty or whitespace-only text (and title) is stored like any other: the encoder sees
  only its special tokens ([CLS] [SEP]), exactly as exact-scoring references do; ingest
  reports how many there were;
* a repeated id within one source is bad input (the later line would silently replace
  the earlier one);
* payload keys ``doc_id``, ``content_hash`` and ``text`` are reserved for the library;
* a ``dense_vector`` field is a caller-supplied dense vector, not payload.

Example:
    >>> docs = list(iter_documents([{"id": 1, "title": "Wings", "text": "lift", "lang": "en"}]))
    >>> docs[0].id, docs[0].text, docs[0].metadata
    ('1', 'Wings lift', {'title': 'Wings', 'lang': 'en'})
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import InputError

__all__ = [
    "BadInput", "Document", "DocumentLike", "check_source", "content_hash", "count_lines", "iter_documents", "open_source", "read_jsonl",
]

RESERVED_KEYS = frozenset({"doc_id", "content_hash", "text", "chunk"})
#: Input field holding a caller-supplied dense vector (not stored in the payload).
DENSE_FIELD = "dense_vector"
_ID_KEYS = ("_id", "id")

DocumentLike = Any  # Document | Mapping[str, Any] | tuple[id, text] | tuple[id, text, metadata]


@dataclass(frozen=True)
class Document:
    """One document ready to encode: id, text to encode, payload metadata, and where it came from."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "<iterable>"
    line: int | None = None
    dense_vector: Any = None


@dataclass(frozen=True)
class BadInput:
    """A skipped input line or item and why."""

    source: str
    line: int | None
    doc_id: str | None
    reason: str

    def __str__(self) -> str:
        return str(InputError(self.reason, source=self.source, line=self.line, doc_id=self.doc_id))


def content_hash(text: str, *, extra: bytes = b"") -> str:
    """Short stable hash of the encoded text (and ``extra`` bytes, e.g. a caller's dense vector),
    stored in the payload to skip unchanged documents."""
    h = hashlib.blake2b(text.encode("utf-8"), digest_size=12)
    if extra:
        h.update(b"\x00")
        h.update(extra)
    return h.hexdigest()


#: Integers Qdrant stores exactly (it turns larger ones into floats).
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _unencodable(text: str) -> bool:
    """True if ``text`` holds lone surrogates (e.g. from a ``"\\ud800"`` JSON escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_json_value(value: Any, path: str) -> None:
    """Raise ValueError if ``value`` cannot be stored as JSON payload."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if _unencodable(value):
            raise ValueError(f"payload field {path!r} holds an unpaired surrogate, which is not valid Unicode")
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError(f"payload field {path!r} is {value}, outside the 64-bit range Qdrant stores exactly; store it as a string")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"payload field {path!r} is {value}, which JSON cannot hold")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str) or _unencodable(k):
                raise ValueError(f"payload field {path!r} has a non-string key {k!r}")
            _check_json_value(v, f"{path}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json_value(v, f"{path}[{i}]")
        return
    raise ValueError(f"payload field {path!r} has type {type(value).__name__}, which JSON cannot hold")


def _from_mapping(obj: Mapping[str, Any], source: str, line: int | None) -> Document:
    id_key = next((k for k in _ID_KEYS if k in obj), None)
    raw_id = None if id_key is None else obj[id_key]
    if raw_id is None or isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id) == "":
        raise InputError("missing or invalid document id: give '_id' or 'id' as a non-empty string or integer", source=source, line=line)
    doc_id = str(raw_id)
    if _unencodable(doc_id):
        raise InputError(f"document id {doc_id!r} holds an unpaired surrogate, which is not valid Unicode", source=source, line=line)
    text = obj.get("text")
    if not isinstance(text, str):
        what = "'text' is missing" if text is None else f"'text' must be a string, got {type(text).__name__}"
        raise InputError(what, source=source, line=line, doc_id=doc_id)
    title = obj.get("title") or ""
    if not isinstance(title, str):
        raise InputError(f"'title' must be a string, got {type(title).__name__}", source=source, line=line, doc_id=doc_id)
    full = f"{title.strip()} {text.strip()}" if title.strip() else text.strip()
    if _unencodable(full):
        raise InputError("'text' or 'title' holds an unpaired surrogate, which is not valid Unicode", source=source, line=line, doc_id=doc_id)
    metadata: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or _unencodable(key):
            raise InputError(f"payload field names must be strings, got {key!r}", source=source, line=line, doc_id=doc_id)
        if key == id_key or key == "text" or key == DENSE_FIELD:
            continue  # ('id' beside '_id' is an ordinary payload field)
        if key in RESERVED_KEYS:
            raise InputError(f"field {key!r} is reserved by splade_qdrant; rename it", source=source, line=line, doc_id=doc_id)
        try:
            _check_json_value(value, key)
        except ValueError as exc:
            raise InputError(str(exc), source=source, line=line, doc_id=doc_id) from None
        metadata[key] = value
    return Document(doc_id, full, metadata, source, line, obj.get(DENSE_FIELD))


def _from_item(item: DocumentLike, index: int) -> Document:
    line = index + 1
    if isinstance(item, Document):
        return item
    if isinstance(item, Mapping):
        return _from_mapping(item, "<iterable>", line)
    if isinstance(item, tuple) and len(item) in (2, 3):
        meta = item[2] if len(item) == 3 else {}
        if not isinstance(meta, Mapping):
            raise InputError("the third tuple element must be a metadata dict", source="<iterable>", line=line)
        return _from_mapping({**meta, "id": item[0], "text": item[1]}, "<iterable>", line)
    raise InputError(
        f"expected a dict, an (id, text[, metadata]) tuple or a Document, got {type(item).__name__}",
        source="<iterable>",
        line=line,
    )


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Document]:
    """Yield documents from a JSONL / BEIR ``corpus.jsonl`` file; raises on the first bad line."""
    for doc in _safe_file(path, skip_bad=False):
        assert isinstance(doc, Document)  # errors are raised, not yielded, without skip_bad
        yield doc


def iter_documents(
    items: Iterable[DocumentLike] | str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    bad: list[BadInput] | None = None,
) -> Iterator[Document]:
    """Validated documents from a file path or an iterable; duplicate ids are bad input.

    Args:
        items: a JSONL path, or an iterable of dicts / tuples / :class:`Document`.
        skip_bad: record bad items in ``bad`` and continue instead of raising.
        bad: list that receives :class:`BadInput` records when ``skip_bad`` is set.
    """
    if skip_bad and bad is None:
        bad = []
    seen: set[str] = set()

    if isinstance(items, (str, os.PathLike)):
        source_iter: Iterator[Document | InputError] = _safe_file(items, skip_bad)
    else:
        source_iter = _safe_items(items, skip_bad)
    for doc in source_iter:
        if isinstance(doc, InputError):
            assert bad is not None  # only produced when skip_bad
            bad.append(BadInput(doc.source or "<iterable>", doc.line, doc.doc_id, doc.reason))
            continue
        if doc.id in seen:
            err = InputError(
                "duplicate document id in this input (the later line would replace the earlier one)",
                source=doc.source,
                line=doc.line,
                doc_id=doc.id,
            )
            if not skip_bad:
                raise err
            assert bad is not None
            bad.append(BadInput(doc.source, doc.line, doc.id, err.reason))
            continue
        seen.add(doc.id)
        yield doc


_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\x28\xb5\x2f\xfd", "zstd"))
_EXPECTED = "expected JSONL: one JSON object per line, with '_id' or 'id' and 'text'"


def open_source(path: str | os.PathLike[str]) -> IO[bytes]:
    """The file at ``path`` opened for reading bytes, decompressed if it is gzip, bzip2 or zstd
    (recognised by its first bytes, whatever its name).

    Raises:
        InputError: missing, not a file, unreadable, or zstd without the ``zstandard`` package.
    """
    source = os.fspath(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"file not found: {source}" if not p.exists() else f"not a file: {source}")
    try:
        raw = p.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    head = raw.read(4)
    raw.seek(0)
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    if kind == "zstd":
        try:
            import zstandard
        except ImportError:
            raw.close()
            raise InputError(f"{source} is zstd-compressed: install the zstandard package, or decompress it (zstd -d)") from None
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))  # lines need a buffered reader
    return raw


def check_source(path: str | os.PathLike[str], *, skip_bad: bool = False) -> None:
    """Check an input file before anything is loaded or created: it exists, can be read, has a
    non-blank line, and is JSONL (a JSON array or CSV file gets a message saying what is
    expected and how to convert it). Without ``skip_bad`` the first line must parse too.

    Raises:
        InputError: with the reason.
    """
    source = os.fspath(path)
    try:
        with open_source(path) as fh:
            for line_no, raw in enumerate(fh, start=1):
                if raw.strip():
                    break
            else:
                raise InputError(f"{source} is empty: {_EXPECTED}")
    except (OSError, EOFError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {source}: {exc}") from None
    first = raw.lstrip(b"\xef\xbb\xbf").strip()
    if first.startswith(b"["):
        raise InputError(
            f"{_EXPECTED}; {source} looks like a JSON array: convert it with jq -c '.[]' {source} > corpus.jsonl", source=source, line=line_no
        )
    if not first.startswith(b"{") and (b"," in first or b"\t" in first):
        raise InputError(f"{_EXPECTED}; {source} looks like CSV or TSV: write one JSON object per row", source=source, line=line_no)
    if not skip_bad:
        try:
            _parse_line(raw, source, line_no)
        except InputError as err:
            raise InputError(f"{err.reason} ({_EXPECTED})", source=source, line=line_no, doc_id=err.doc_id) from None


def _safe_file(path: str | os.PathLike[str], skip_bad: bool) -> Iterator[Document | InputError]:
    """Like :func:`read_jsonl`, but yields line errors instead of raising when ``skip_bad``."""
    source = os.fspath(path)
    with open_source(path) as fh:
        lines = enumerate(fh, start=1)
        line_no = 0
        while True:
            try:
                line_no, raw = next(lines)
            except StopIteration:
                return
            except (OSError, EOFError) as exc:  # a corrupt or truncated compressed file
                raise InputError(f"cannot read {source} after line {line_no}: {exc}") from None
            if not raw.strip():
                continue
            try:
                yield _parse_line(raw, source, line_no)
            except InputError as err:
                if not skip_bad:
                    raise
                yield err


def _parse_line(raw: bytes, source: str, line_no: int) -> Document:
    if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark some editors write
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"invalid UTF-8 at byte {exc.start} of the line", source=source, line=line_no, doc_id=_guess_id(raw)
        ) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"malformed JSON ({exc.msg} at column {exc.colno})", source=source, line=line_no, doc_id=_guess_id(raw)
        ) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", source=source, line=line_no)
    return _from_mapping(obj, source, line_no)


_ID_PATTERN = re.compile(rb'"_?id"\s*:\s*(?:"((?:[^"\\]|\\.){1,200})"|(-?\d{1,30}))')


def _guess_id(raw: bytes) -> str | None:
    """The document id of a line that does not parse, when it can be read anyway (for messages)."""
    m = _ID_PATTERN.search(raw)
    if m is None:
        return None
    return (m.group(1) or m.group(2)).decode("utf-8", errors="replace")


def _safe_items(items: Iterable[DocumentLike], skip_bad: bool) -> Iterator[Document | InputError]:
    for index, item in enumerate(items):
        try:
            yield _from_item(item, index)
        except InputError as err:
            if not skip_bad:
                raise
            yield err


def count_lines(path: str | os.PathLike[str]) -> int:
    """Number of non-empty lines (for progress bars); 0 if the file cannot be read."""
    try:
        with open_source(path) as fh:
            return sum(1 for raw in fh if raw.strip())
    except (OSError, EOFError, ValueError):
        return 0
