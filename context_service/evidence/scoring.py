"""Severity and confidence of feed items from rules a user can read and change.

The rules live in a YAML file (``scoring.yaml`` beside this module by default; set
``CTX_FEEDS_RULES_FILE`` to use your own). Keyword rules catch the events that matter (exchange
insolvency, hacks, depegs, delistings, regulation); otherwise a lexicon sentiment score (VADER,
which ships its lexicon in its PyPI package) picks a sentiment rule. Whatever fired is recorded
on the object, so every severity in a context can be traced to one readable rule.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from context_service.models import Severity

DEFAULT_RULES_FILE = Path(__file__).with_name("scoring.yaml")
RULE_NAME = r"^[a-z0-9][a-z0-9-]{0,47}$"


class KeywordRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=RULE_NAME)
    category: Literal["event", "news", "risk"] = "event"
    severity: Severity
    confidence: float = Field(ge=0, le=1)
    words: tuple[str, ...] = Field(min_length=1)

    @field_validator("words")
    @classmethod
    def _words(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        for word in words:
            if not word.strip() or len(word) > 100:
                raise ValueError(f"keyword {word!r} must be 1..100 characters")
        return words


class SentimentRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=RULE_NAME)
    min_abs: float = Field(ge=0, le=1)
    severity: Severity
    confidence: float = Field(ge=0, le=1)


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=RULE_NAME)
    min: float
    max: float
    severity: Severity
    confidence: float = Field(ge=0, le=1)


class ScoringRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keyword_rules: tuple[KeywordRule, ...] = ()
    sentiment_rules: tuple[SentimentRule, ...] = Field(min_length=1)
    bands: dict[str, tuple[Band, ...]] = Field(default_factory=dict)

    @field_validator("sentiment_rules")
    @classmethod
    def _catch_all(cls, rules: tuple[SentimentRule, ...]) -> tuple[SentimentRule, ...]:
        if min(rule.min_abs for rule in rules) > 0:
            raise ValueError("one sentiment rule needs min_abs 0 so every item gets a rule")
        return rules


class RulesFileError(ValueError):
    """The scoring rules file cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Score:
    """What the rules decided for one item."""

    rule: str
    category: str
    severity: Severity
    confidence: float
    sentiment: float


class Scorer:
    """Applies :class:`ScoringRules`; build with :meth:`from_file` or from rules."""

    def __init__(self, rules: ScoringRules) -> None:
        self.rules = rules
        self._keyword = [(rule, _compile(rule.words)) for rule in rules.keyword_rules]
        self._sentiment = sorted(rules.sentiment_rules, key=lambda r: r.min_abs, reverse=True)

    @classmethod
    def from_file(cls, path: Path | None = None) -> Scorer:
        return cls(load_rules(path or DEFAULT_RULES_FILE))

    def score(self, title: str, summary: str, sentiment: float | None = None) -> Score:
        """The first keyword rule that matches, else the sentiment rule for |score|.

        ``sentiment`` overrides the lexicon score (e.g. an archive's own polarity)."""
        text = f"{title}\n{summary}"
        if sentiment is None or not math.isfinite(sentiment):
            value = sentiment_score(text)
        else:
            value = max(-1.0, min(1.0, sentiment))
        words = _Words(text)
        for rule, matcher in self._keyword:
            if matcher.matches(words):
                return Score(rule.name, rule.category, rule.severity, rule.confidence, value)
        for rule in self._sentiment:
            if abs(value) >= rule.min_abs:
                return Score(rule.name, "news", rule.severity, rule.confidence, value)
        raise AssertionError("the min_abs 0 sentiment rule always fires")  # pragma: no cover

    def band(self, reading: str, value: float) -> Score:
        """The band of ``reading`` (e.g. ``fear-greed``) that holds ``value``; a value outside
        every band (or a reading without bands) scores low with the rule ``unbanded``."""
        for band in self.rules.bands.get(reading, ()):
            if band.min <= value <= band.max:
                return Score(band.name, "event", band.severity, band.confidence, 0.0)
        return Score("unbanded", "event", Severity.low, 0.3, 0.0)


def load_rules(path: Path) -> ScoringRules:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RulesFileError(f"cannot read scoring rules {path}: {exc}") from exc
    try:
        return ScoringRules.model_validate(data)
    except ValidationError as exc:
        raise RulesFileError(f"invalid scoring rules {path}: {exc}") from exc


_TOKEN = re.compile(r"[A-Za-z0-9$]+(?:[-'][A-Za-z0-9]+)*")


class _Words:
    """A text split once into tokens, for fast whole-word, prefix and phrase tests."""

    def __init__(self, text: str) -> None:
        tokens = _TOKEN.findall(text)
        self.exact = set(tokens)
        lowered = [t.lower() for t in tokens]
        self.lower = set(lowered)
        self.sorted = sorted(self.lower)
        self.joined = " " + " ".join(lowered) + " "

    def has_prefix(self, prefix: str) -> bool:
        index = bisect.bisect_left(self.sorted, prefix)
        return index < len(self.sorted) and self.sorted[index].startswith(prefix)


@dataclass(frozen=True, slots=True)
class _Matcher:
    """A rule's words sorted by how they match (see scoring.yaml's header)."""

    acronyms: frozenset[str]
    words: frozenset[str]
    prefixes: tuple[str, ...]
    phrases: tuple[str, ...]
    phrase_prefixes: tuple[str, ...]

    def matches(self, text: _Words) -> bool:
        return (
            not self.acronyms.isdisjoint(text.exact)
            or not self.words.isdisjoint(text.lower)
            or any(text.has_prefix(p) for p in self.prefixes)
            or any(f" {p} " in text.joined for p in self.phrases)
            or any(f" {p}" in text.joined for p in self.phrase_prefixes)
        )


def _compile(words: tuple[str, ...]) -> _Matcher:
    acronyms, plain, prefixes, phrases, phrase_prefixes = set(), set(), [], [], []
    for raw in words:
        prefix = raw.strip().endswith("*")
        word = raw.strip().rstrip("*")
        tokens = _TOKEN.findall(word)
        if len(tokens) > 1:
            text = " ".join(t.lower() for t in tokens)
            (phrase_prefixes if prefix else phrases).append(text)
        elif tokens and prefix:
            prefixes.append(tokens[0].lower())
        elif tokens and tokens[0].isupper() and tokens[0].isalpha():
            acronyms.add(tokens[0])
        elif tokens:
            plain.add(tokens[0].lower())
    return _Matcher(
        frozenset(acronyms),
        frozenset(plain),
        tuple(prefixes),
        tuple(phrases),
        tuple(phrase_prefixes),
    )


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_score(text: str) -> float:
    """VADER's compound score of ``text`` (-1 very negative .. 1 very positive)."""
    if not text.strip():
        return 0.0
    return float(_vader().polarity_scores(text[:4000])["compound"])
