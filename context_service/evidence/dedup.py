"""Near-duplicate merging: the same story from two feeds (or twice from one) is kept once.

Titles are reduced to their content words; two items within ``window`` of each other whose word
sets overlap by at least ``threshold`` (Jaccard) are the same story. The first report wins: the
later one is not stored, only counted. Adding the later source to the earlier object instead
would change, after the fact, what a decision at the earlier time saw, which a point-in-time
store must never do.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from datetime import datetime, timedelta

_WORD = re.compile(r"[a-z0-9$][a-z0-9$.]*")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "over",
        "says",
        "the",
        "this",
        "to",
        "up",
        "was",
        "will",
        "with",
        "after",
        "amid",
        "new",
        "than",
        "that",
        "what",
        "why",
        "how",
    ]
)
MIN_WORDS = 4  # shorter titles ("Bitcoin price update") say too little to call duplicates


def title_words(title: str) -> frozenset[str]:
    words = (w.rstrip(".") for w in _WORD.findall(title.lower()))
    return frozenset(w for w in words if w and w not in STOPWORDS)


class NearDuplicates:
    """Remembers recent titles; :meth:`seen` says whether a new one repeats one of them."""

    def __init__(self, threshold: float = 0.7, window: timedelta = timedelta(hours=36)) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.window = window
        self._recent: deque[tuple[datetime, str, frozenset[str]]] = deque()
        self._by_word: dict[str, set[str]] = defaultdict(set)
        self._words: dict[str, frozenset[str]] = {}

    def __len__(self) -> int:
        return len(self._words)

    def seen(self, item_id: str, title: str, when: datetime) -> str | None:
        """The id of an earlier near-duplicate of ``title`` (or of the same id), else None;
        a title that is new is remembered under ``item_id``."""
        self._expire(when)
        if item_id in self._words:
            return item_id
        words = title_words(title)
        if len(words) >= MIN_WORDS:
            counts: dict[str, int] = defaultdict(int)
            for word in words:
                for other in self._by_word.get(word, ()):
                    counts[other] += 1
            for other, shared in counts.items():
                union = len(words) + len(self._words[other]) - shared
                if shared / union >= self.threshold:
                    return other
        self._words[item_id] = words
        for word in words:
            self._by_word[word].add(item_id)
        self._recent.append((when, item_id, words))
        return None

    def forget(self, item_id: str) -> None:
        """Forget one remembered title (its write failed: a retry must not see a duplicate)."""
        words = self._words.pop(item_id, None)
        for word in words or ():
            ids = self._by_word.get(word)
            if ids is not None:
                ids.discard(item_id)
                if not ids:
                    del self._by_word[word]

    def _expire(self, now: datetime) -> None:
        while self._recent and now - self._recent[0][0] > self.window:
            _, item_id, _words = self._recent.popleft()
            self.forget(item_id)
