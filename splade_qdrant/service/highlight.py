"""Map a hit's matching SPLADE terms back onto the words of its text.

The explanation of a sparse hit lists vocabulary terms (often subwords such as ``##ing``)
with their contributions. To mark them in the text, the text is tokenised again with the
query encoder's tokenizer, keeping each token's character span; every token whose id is a
matching term marks the *word* it belongs to (consecutive tokens joined letter to letter),
and a word's contribution is the sum over the distinct matching terms it carries. Terms that
occur nowhere in the text (SPLADE's expansion terms) are listed apart.

Pure functions on lists: no model, no store.

Example:
    >>> text = "Flutter of wings"
    >>> ids, offsets = [10, 11, 12, 13], [(0, 7), (8, 10), (11, 15), (15, 16)]  # flutter of wing ##s
    >>> spans = word_highlights(text, ids, offsets, {12: ("wing", 1.5), 13: ("##s", 0.25)})
    >>> [(text[s.start:s.end], s.contribution, s.terms) for s in spans]
    [('wings', 1.75, ['wing', '##s'])]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Span", "best_window", "word_highlights"]

#: Characters of text shown around the best-matching passage.
DEFAULT_SNIPPET_CHARS = 320


@dataclass(frozen=True)
class Span:
    """A word carrying matching terms: ``text[start:end]``, their summed contribution and names."""

    start: int
    end: int
    contribution: float
    terms: list[str]


def _joined(text: str, end: int, start: int) -> bool:
    """True if a token ending at ``end`` and the next starting at ``start`` are one word."""
    return start == end and 0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum()


def word_highlights(
    text: str,
    token_ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    terms: Mapping[int, tuple[str, float]],
) -> list[Span]:
    """Words of ``text`` that carry matching terms, in text order.

    Args:
        text: the text that was tokenised.
        token_ids, offsets: its tokens and their ``(start, end)`` character spans.
        terms: matching term id → (term string, contribution).
    """
    spans: list[Span] = []
    word_start = word_end = -1
    carried: dict[int, None] = {}  # ordered set of term ids in the current word

    def close() -> None:
        if carried:
            spans.append(Span(word_start, word_end, sum(terms[t][1] for t in carried), [terms[t][0] for t in carried]))

    for tid, (start, end) in zip(token_ids, offsets):
        if end <= start:
            continue
        if word_end >= 0 and _joined(text, word_end, start):
            word_end = end
        else:
            close()
            carried = {}
            word_start, word_end = start, end
        if tid in terms:
            carried[tid] = None
    close()
    return spans


def best_window(length: int, spans: Sequence[Span], width: int = DEFAULT_SNIPPET_CHARS) -> tuple[int, int]:
    """The ``[start, end)`` character window of at most ``width`` holding the largest total
    contribution of whole spans (the text's start when no span matches)."""
    if length <= width:
        return 0, length
    best, best_start = -1.0, 0
    for anchor in spans:
        start = max(0, min(anchor.start - width // 8, length - width))
        total = sum(s.contribution for s in spans if s.start >= start and s.end <= start + width)
        if total > best:
            best, best_start = total, start
    return best_start, best_start + width
