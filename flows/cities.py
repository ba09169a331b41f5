"""Which city a mother lives in, from a free answer ("坐标魔都", "老家衡阳现在在长沙").

The data file flows/data/cities.tsv lists every prefecture-level division of China with
its province and the names people type for it (official name, short name, nicknames,
pinyin). One Aho-Corasick automaton finds them all in one pass.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import ahocorasick

DATA = Path(__file__).with_name("data") / "cities.tsv"

# Everyday words that contain a city name; blanked out before matching.
_NOT_CITIES = (
    "三明治",
    "大理石",
    "平安顺利",
    "安顺利",
    "白银首饰",
    "来宾客",
    "身体安康",
    "日照时间",
    "东方明珠",
    "中山路",
    "中山公园",
    "中山装",
    "阿里巴巴",
    "新星",
)

# "现在在长沙" / "坐标杭州" / "住在": the place after such a cue is where she lives now.
_NOW = re.compile(r"(?:现在|目前|现居|定居|坐标|住在|在)$")


@dataclass(frozen=True)
class City:
    name: str
    province: str


class CityIndex:
    def __init__(self, rows: list[tuple[str, str, list[str]]]) -> None:
        self.cities: list[City] = []
        self._automaton = ahocorasick.Automaton()
        names: dict[str, int] = {}
        for name, province, aliases in rows:
            index = len(self.cities)
            self.cities.append(City(name, province))
            for alias in {name, f"{name}市", *aliases}:
                key = _norm(alias)
                if key and key not in names:
                    names[key] = index
        for key, index in names.items():
            self._automaton.add_word(key, (index, len(key)))
        self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.cities)

    def match(self, text: str) -> City | None:
        norm = _norm(text)
        for word in _NOT_CITIES:
            norm = norm.replace(word, " " * len(word))
        found: list[tuple[int, int, int]] = []  # (start, end, city)
        for end, (index, length) in self._automaton.iter(norm):
            start = end + 1 - length
            if norm[start].isascii() and not _whole_word(norm, start, end + 1):
                continue  # pinyin inside an English word: "xian" in "asian"
            found.append((start, end + 1, index))
        if not found:
            return None
        # Longest match wins where names overlap ("苏州工业园区" is 苏州, not 工业园).
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        kept: list[tuple[int, int, int]] = []
        for start, end, index in found:
            if kept and start < kept[-1][1]:
                continue
            kept.append((start, end, index))
        for start, _end, index in reversed(kept):
            if _NOW.search(norm[:start]):
                return self.cities[index]
        return self.cities[kept[-1][2]]


def _whole_word(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return not (before.isascii() and before.isalpha()) and not (after.isascii() and after.isalpha())


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def load(path: Path = DATA) -> CityIndex:
    rows: list[tuple[str, str, list[str]]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        name, province = cells[0].strip(), cells[1].strip()
        aliases = [a.strip() for a in cells[2].split(",")] if len(cells) > 2 else []
        rows.append((name, province, [a for a in aliases if a]))
    return CityIndex(rows)


@cache
def cities() -> CityIndex:
    """The shipped list, loaded once per process."""
    return load()
