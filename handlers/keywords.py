"""Keyword replies from content/keywords.toml.

Matching cost does not grow with the number of rules: every `contains` and `word` keyword
goes into one Aho-Corasick automaton, `exact` rules are a dict lookup, and `regex` rules
run on RE2 (bot/ops_regex.py: time linear in the message, whatever ops wrote): one
alternation of them all tells in one pass whether any matches, and only then is each tried
(ops are told to keep those few). A `word` keyword matches only
where it starts and ends on jieba word boundaries, so 奶 does not fire inside 奶粉.

A rule can also be limited to short messages (`max_chars`) or to questions
(`questions_only`): its keywords then match only in a message that fits, so a long birth
story that mentions 待产室 neither gets the 待产包 list nor the tag.

The handler picks the highest-priority matching rule that applies in this chat (file order
breaks ties) and answers with one of its reply variants. Tags of every applicable matching
rule are written, even while the answer is cooling down: the interest is real either way.
While a rule cools down in a chat, whoever asks again gets a short pointer to the answer
above (`repeat_reply`), once each, rather than silence: the second mother who asks the
same thing minutes later is not ignored, and a chat that keeps asking is not flooded.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick
import re2

from bot.config import KeywordRule, KeywordsContent
from bot.events import Event, MessageReceived, MessageType
from bot.features import Feature, On, Platform
from bot.handler import Context, Flow
from bot.ops_regex import compile_ops, options, translate
from bot.privacy import mask_id
from bot.selector import RoomSelector
from bot.templates import render
from bot.text import normalize, strip_punctuation, word_boundaries

log = logging.getLogger(__name__)

# She asks something: a question mark, a question word, or a request (求 / 请问 / 推荐).
_QUESTION = re.compile(
    r"[?？]|吗|呢|什么|啥|怎么|怎样|咋|为什么|为啥|哪|谁有|谁家|多少|如何|能不能|可不可以"
    r"|是不是|有没有|要不要|会不会|用不用|需不需要|行不行|好不好|(?<![好没十])几[个岁周月种样件]"
    r"|求|请问|想问|问下|问一下|推荐"
)


def reads_as_question(text: str) -> bool:
    """Whether a normalised message asks something (a heuristic: 宝宝几个月了呢 yes,
    昨天进了待产室 no)."""
    return _QUESTION.search(text) is not None


@dataclass(frozen=True, slots=True)
class _Limits:
    """What a message must look like for a rule to match it (see KeywordRule)."""

    max_chars: int | None
    questions_only: bool
    bare: frozenset[str]  # the keywords alone: "待产包" asks for it, question word or not

    def fit(self, norm: str) -> bool:
        if self.max_chars is not None and len(norm) > self.max_chars:
            return False
        if not self.questions_only:
            return True
        return reads_as_question(norm) or (strip_punctuation(norm) or norm) in self.bare


@dataclass(frozen=True, slots=True)
class _Hit:
    rule: int
    keyword: int
    length: int
    whole_word: bool


class KeywordIndex:
    """All enabled rules, compiled once per content version."""

    def __init__(self, rules: Iterable[KeywordRule]) -> None:
        self.rules: list[KeywordRule] = [r for r in rules if r.enabled]
        self._exact: dict[str, list[int]] = defaultdict(list)
        self._regex: list[tuple[int, re2._Regexp]] = []
        self._needed: list[int] = []  # distinct keywords a rule needs (1 for "any")
        self._limits: dict[int, _Limits] = {}  # only the rules that have any
        self._has_words = False
        entries: dict[str, list[_Hit]] = defaultdict(list)
        for i, rule in enumerate(self.rules):
            keys = sorted({k for k in (normalize(k) for k in rule.keywords) if k})
            self._needed.append(len(keys) if rule.require == "all" else 1)
            if rule.max_chars is not None or rule.questions_only:
                bare = frozenset(strip_punctuation(k) or k for k in keys)
                self._limits[i] = _Limits(rule.max_chars, rule.questions_only, bare)
            if rule.mode == "exact":
                for key in keys:
                    self._exact[strip_punctuation(key) or key].append(i)
            elif rule.mode == "regex":
                self._regex.append((i, compile_ops(rule.pattern)))  # checked when loaded
            else:
                whole = rule.mode == "word"
                self._has_words |= whole
                for k, key in enumerate(keys):
                    entries[key].append(_Hit(i, k, len(key), whole))
        self._regex_any = _combine([self.rules[i].pattern for i, _ in self._regex])
        self._automaton: ahocorasick.Automaton | None = None
        if entries:
            automaton = ahocorasick.Automaton()
            for key, hits in entries.items():
                automaton.add_word(key, tuple(hits))
            automaton.make_automaton()
            self._automaton = automaton

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, text: str) -> list[KeywordRule]:
        """Every rule the text matches, best first: highest priority, then file order."""
        norm = normalize(text)
        if not norm:
            return []
        found: set[int] = set()
        found.update(self._exact.get(strip_punctuation(norm) or norm, ()))
        if self._regex:
            data = norm.encode("utf-8", "surrogatepass")  # RE2 reads UTF-8: encode once
            if self._regex_any is None or self._regex_any.search(data):
                found.update(i for i, pattern in self._regex if pattern.search(data))
        if self._automaton is not None:
            found.update(self._scan(norm))
        if self._limits:
            found = {i for i in found if i not in self._limits or self._limits[i].fit(norm)}
        return [self.rules[i] for i in sorted(found, key=lambda i: (-self.rules[i].priority, i))]

    def _scan(self, norm: str) -> set[int]:
        assert self._automaton is not None
        seen: dict[int, set[int]] = defaultdict(set)
        word_hits: list[tuple[int, int, _Hit]] = []
        for end, hits in self._automaton.iter(norm):
            for hit in hits:
                if hit.whole_word:
                    word_hits.append((end + 1 - hit.length, end + 1, hit))
                else:
                    seen[hit.rule].add(hit.keyword)
        if word_hits:
            edges = word_boundaries(norm)
            for start, stop, hit in word_hits:
                if start in edges and stop in edges:
                    seen[hit.rule].add(hit.keyword)
        return {rule for rule, keys in seen.items() if len(keys) >= self._needed[rule]}


def _combine(patterns: list[str]) -> re2._Regexp | None:
    """One RE2 alternation of all patterns: a single linear pass tells whether any can
    match. None when there is nothing to gain (fewer than two) or RE2 cannot build it (too
    large): then every pattern is simply tried."""
    if len(patterns) < 2:
        return None
    try:
        return re2.compile("|".join(f"(?:{translate(p)})" for p in patterns), options())
    except re2.error:
        return None


class KeywordHandler:
    name = "keywords"

    def __init__(self) -> None:
        self._source: object | None = None
        self._index = KeywordIndex(())

    def index_for(self, ctx: Context) -> KeywordIndex:
        keywords = ctx.content.keywords
        if keywords is not self._source:  # content was (re)loaded
            self._index = KeywordIndex(keywords.rules)
            self._source = keywords
            log.info("keyword index built: %d rules", len(self._index))
        return self._index

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)  # a text message: the feature's filter
        matched = self.index_for(ctx).match(event.text)
        if not matched:
            return None
        applicable = [rule for rule in matched if await self._applies(rule, event, ctx)]
        if not applicable:
            return None
        for rule in applicable:
            for tag in rule.tags:
                await ctx.add_tag(event.sender_id, tag, source="keyword", detail=rule.id)
            await ctx.trigger("keyword", rule.id, event.sender_id)
        answer = next((rule for rule in applicable if rule.replies), None)
        if answer is not None:
            await self._answer(answer, event, ctx)
        return Flow.STOP

    async def _answer(self, rule: KeywordRule, event: MessageReceived, ctx: Context) -> None:
        chat = event.room or event.sender_id
        cooldown = f"kw:cd:{event.account_id}:{chat}:{rule.id}"
        if rule.cooldown_seconds > 0 and not await ctx.kv.set_if_absent(
            cooldown, "1", ttl=rule.cooldown_seconds
        ):
            await self._point_back(rule, event, ctx, chat, cooldown)
            return
        await self._say(ctx.services.random.choice(rule.replies), event, ctx)

    async def _point_back(
        self, rule: KeywordRule, event: MessageReceived, ctx: Context, chat: str, cooldown: str
    ) -> None:
        """A repeat within the cooldown: the pointer, once per asker for as long as this
        cooldown lasts (her mark expires with it, so the next answer starts afresh)."""
        pointer = ctx.content.keywords.repeat_reply
        left = await ctx.kv.ttl(cooldown)
        ttl = left if left is not None and left > 0 else rule.cooldown_seconds
        mark = f"kw:pt:{event.account_id}:{chat}:{rule.id}:{event.sender_id}"
        if not pointer.strip() or not await ctx.kv.set_if_absent(mark, "1", ttl=ttl):
            log.debug("rule %s cooling down in %s", rule.id, mask_id(chat))
            return
        await self._say(pointer, event, ctx)

    @staticmethod
    async def _say(template: str, event: MessageReceived, ctx: Context) -> None:
        text = render(template, {"name": event.sender_name, "bot": ctx.services.config.bot.name})
        mentions: Sequence[str] = () if event.is_dm else (event.sender_id,)
        await ctx.reply(text, mentions=mentions)

    @staticmethod
    async def _applies(rule: KeywordRule, event: MessageReceived, ctx: Context) -> bool:
        if rule.scope == "dm" and not event.is_dm:
            return False
        if rule.scope == "groups" and event.is_dm:
            return False
        if not rule.rooms and not rule.room_tags:
            return True
        if event.room is None:
            return False  # limited to certain rooms, so never in a DM
        selector = RoomSelector(rule.rooms, rule.room_tags)
        return await ctx.services.rooms.selects(event.account_id, event.room, selector)


def feature(p: Platform) -> Feature:
    """Keyword answers; the dialogs hand her own questions to the same handler."""
    handler = KeywordHandler()
    return Feature(
        name="keywords",
        handlers=[(handler, On((MessageReceived,), types=(MessageType.TEXT,)))],
        content={"keywords.toml": KeywordsContent},
        exports={"handler": handler},
    )
