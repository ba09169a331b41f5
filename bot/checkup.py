"""`mamabot check`: every problem of config.toml and content/ in one pass.

Loading (bot/config.py) stops a file at its first layer of errors: a rule's pattern is
looked at only once its keys are right, duplicate ids only once every rule is valid. Ops
fixing one round at a time meet a new round after each fix. This pass reports what loading
would refuse and what it would look at next, by file, line and rule id, each with a fix in
plain words, and warns (without failing) about what loads but would surprise: a keyword
rule that answers most messages, a bot nobody can command.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from bot.config import (
    CONTENT_FILES,
    DATABASE_URL_ENV,
    AppConfig,
    ChannelsContent,
    ConfigError,
    DialogsContent,
    KeywordRule,
    KeywordsContent,
    M,
    PostsContent,
    SequencesContent,
    Strict,
    database_scheme_problem,
    load_model,
    parse_window,
)
from bot.ops_regex import OpsPatternError, compile_ops
from bot.stages import STAGE_NAMES

# Files content/ may hold besides the TOML files: the guard's labelled corpus.
OTHER_CONTENT_FILES = ("guard_examples.tsv",)
# A keyword rule answering this share of everyday group messages (the ham rows of the
# guard's corpus) would answer nearly everyone: the shipped rules stay below 6 %.
CATCH_ALL_SHARE = 0.10

# The list entries a person names: where an error is, said by its id rather than [42].
_NAMED_LISTS = {
    "rules": ("rule", "id"),
    "dialogs": ("dialog", "id"),
    "steps": ("step", "id"),
    "codes": ("channel code", "name"),
    "accounts": ("account", "id"),
    "rooms": ("room", "match"),
    "overrides": ("override", "template"),
    "posts": ("post", "id"),
    "sequences": ("sequence", "id"),
    "triggers": ("trigger", "on"),
    "links": ("link", "id"),
}


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    file: str
    line: int | None
    what: str  # "rule 'eczema'", "[bot] timezone", "" for the whole file
    message: str  # what is wrong and how to fix it

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f" {self.what}:" if self.what else ""
        return f"{self.level}: {where}:{what} {self.message}"


# Builds the keyword matcher from rules (handlers.keywords.KeywordIndex; the assembly
# passes it in, the core imports no feature).
KeywordMatcher = Callable[[list[KeywordRule]], Any]


def check_project(
    base: Path, config_path: Path | None = None, keyword_index: KeywordMatcher | None = None
) -> list[Finding]:
    """Every problem of the project in `base` (config.toml and its content folder).
    `keyword_index`: to warn about catch-all keyword rules."""
    if not base.is_dir():
        return [
            Finding(
                "error",
                str(base),
                None,
                "",
                "folder not found: give --dir the folder that holds config.toml and content/",
            )
        ]
    findings: list[Finding] = []
    explicit = config_path is not None
    config_path = config_path or base / "config.toml"
    config: AppConfig | None = AppConfig()
    admins: Any = None
    if explicit and not config_path.is_file():
        findings.append(Finding("error", str(config_path), None, "", "file not found"))
    elif config_path.is_file():
        data = _read_toml(config_path, findings)
        if data is not None:
            config = _validate(config_path, data, AppConfig, findings)
            if isinstance(data, dict):
                findings += _config_extras(config_path, data)
                bot = data.get("bot")
                admins = bot.get("super_admins") if isinstance(bot, dict) else None
    env_url = os.environ.get(DATABASE_URL_ENV, "")
    scheme = database_scheme_problem(env_url) if env_url else None
    if scheme:
        findings.append(Finding("error", f"${DATABASE_URL_ENV}", None, "", scheme))
    content_dir = base / (config or AppConfig()).bot.content_dir
    findings += check_content(content_dir)
    if not admins:  # read as written: a config with other errors has this one too
        findings.append(_no_super_admin(config_path))
    if keyword_index is not None and content_dir.is_dir():
        findings += _catch_alls(content_dir, keyword_index)
    if content_dir.is_dir():
        findings += _automation_references(content_dir, config or AppConfig())
        findings += _guard_examples(content_dir / "guard_examples.tsv")
    return _in_file_order(findings)


def _in_file_order(findings: list[Finding]) -> list[Finding]:
    """Errors before warnings; each file's in the order of its lines."""
    files = list(dict.fromkeys(f.file for f in findings))
    return sorted(
        findings,
        key=lambda f: (f.level != "error", files.index(f.file), f.line or 0),
    )


def check_content(content_dir: Path) -> list[Finding]:
    if not content_dir.is_dir():
        return [
            Finding(
                "error",
                str(content_dir),
                None,
                "",
                "content folder not found: check [bot] content_dir in config.toml",
            )
        ]
    findings = _unknown_files(content_dir)
    for filename, model in CONTENT_FILES.items():
        path = content_dir / filename
        if not path.is_file():
            continue
        data = _read_toml(path, findings)
        if data is None:
            continue
        _validate(path, data, model, findings)
        if filename == "keywords.toml" and isinstance(data, dict):
            findings += _keyword_extras(path, data)
        if filename == "dialogs.toml" and isinstance(data, dict):
            findings += _duplicates(path, data, "dialogs", "id", "dialog")
        if filename == "posts.toml" and isinstance(data, dict):
            findings += _duplicates(path, data, "posts", "id", "post")
        if filename == "sequences.toml" and isinstance(data, dict):
            findings += _duplicates(path, data, "sequences", "id", "sequence")
    return _unique(findings)


# --------------------------------------------------------------------------- files


def _unknown_files(content_dir: Path) -> list[Finding]:
    known = [*CONTENT_FILES, *OTHER_CONTENT_FILES]
    findings = []
    for path in sorted(content_dir.iterdir()):
        name = path.name
        if name in known or name.startswith(".") or name.endswith("~") or path.is_dir():
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if close:
            fix = f"a misspelling of {close[0]}? mamabot reads only {close[0]}: rename it"
        else:
            fix = "mamabot does not read this file; it reads " + ", ".join(known)
            fix += ": rename it or move it out of the content folder"
        findings.append(Finding("error", str(path), None, "", f"unknown file, {fix}"))
    return findings


def _read_toml(path: Path, findings: list[Finding]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        findings.append(Finding("error", str(path), None, "", "not UTF-8 text: save it as UTF-8"))
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        findings.append(
            Finding(
                "error",
                str(path),
                int(line.group(1)) if line else None,
                "",
                f"TOML syntax error ({str(exc).split(' (at line')[0]}): check quotes, "
                "brackets and commas on this line",
            )
        )
        return None


def _validate(path: Path, data: Any, model: type[Strict], findings: list[Finding]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = path.read_text(encoding="utf-8").splitlines()
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p != "function-after")
            findings.append(_finding(path, lines, data, loc, err, model))
        return None


def _finding(
    path: Path,
    lines: list[str],
    data: Any,
    loc: tuple[Any, ...],
    err: Any,
    model: type[BaseModel],
) -> Finding:
    kind = err["type"]
    what, key, fields = _describe(data, loc, model)
    if kind == "extra_forbidden":
        near = difflib.get_close_matches(str(key), fields, n=1)
        message = f"unknown key '{key}'" + (
            f": did you mean '{near[0]}'?" if near else f": the keys are {', '.join(fields)}"
        )
    elif kind == "missing":
        message = f"the key '{key}' is required: add it"
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
        if isinstance(key, str) and not message.startswith(key):
            what = f"{what} {key}".strip() if what.startswith("[") or not what else what
            if not what.endswith(key):
                message = f"{key}: {message}"
        if kind.endswith(("_type", "_parsing")):
            message += f", got {err.get('input')!r}"
    message = _without_pattern(message, data, loc)
    item = _field_model_at(model, loc)
    first = message.split(" ", 1)[0].strip("':")
    if loc and isinstance(loc[-1], int) and item is not None and first in item.model_fields:
        loc = (*loc, first)  # "pattern is not ...": the line of the pattern
    return Finding("error", str(path), _line_of(lines, loc), what, message)


def _describe(
    data: Any, loc: tuple[Any, ...], model: type[BaseModel]
) -> tuple[str, Any, list[str]]:
    """(who, the last key, the keys allowed where the error is) for a pydantic location."""
    names: list[str] = []
    table: list[str] = []
    node = data
    current: Any = model
    key: Any = None
    for i, part in enumerate(loc):
        key = part
        last = i == len(loc) - 1
        if isinstance(part, int):
            named = _NAMED_LISTS.get(str(loc[i - 1]) if i else "")
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if named:
                label, id_key = named
                ident = item.get(id_key) if isinstance(item, dict) else None
                names.append(f"{label} '{ident}'" if ident else f"{label} #{part + 1}")
                table = []
            node = item
            continue
        if not last:
            table.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
        current = _field_model(current, str(part))
    if table and not names:
        names.append(f"[{'.'.join(table)}]")
    elif table:
        names.append(".".join(table))
    parent = _field_model_at(model, loc[:-1])
    fields = sorted(parent.model_fields) if parent is not None else []
    return ", ".join(names), key, fields


def _field_model(current: Any, name: str) -> Any:
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return None
    field = current.model_fields.get(name)
    if field is None:
        return None
    annotation = field.annotation
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _field_model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        current = _field_model(current, str(part))
    return current


def _without_pattern(message: str, data: Any, loc: tuple[Any, ...]) -> str:
    """A refused regex is named by its rule, never printed raw: ops read the message."""
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and not isinstance(part, int):
            node = node.get(part)
    pattern = node.get("pattern") if isinstance(node, dict) else None
    if isinstance(pattern, str) and len(pattern) > 2 and pattern in message:
        message = message.replace(pattern, "the pattern")
    return re.sub(r" \(rule '[^']*'\)", "", message)


def _line_of(lines: list[str], loc: tuple[Any, ...]) -> int | None:
    """The line of a location, best effort: the Nth [[list]] header, then the key in it."""
    start, end = 0, len(lines)
    path: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            header = re.compile(r"^\s*\[\[\s*" + re.escape(".".join(path)) + r"\s*\]\]")
            hits = [n for n in range(start, end) if header.match(lines[n])]
            if part < len(hits):
                start = hits[part]
                end = hits[part + 1] if part + 1 < len(hits) else _item_end(lines, start, path)
            continue
        path.append(str(part))
        if i == len(loc) - 1 or isinstance(loc[i + 1], int):
            continue
        table = re.compile(r"^\s*\[\s*" + re.escape(".".join(path)) + r"\s*\]")
        found = next((n for n in range(start, end) if table.match(lines[n])), None)
        if found is not None:
            start, end = found, _block_end(lines, found)
    keys = [p for p in loc if not isinstance(p, int)]
    if keys:
        key = re.compile(r"^\s*[\"']?" + re.escape(str(keys[-1])) + r"[\"']?\s*=")
        hit = next((n for n in range(start, end) if key.match(lines[n])), None)
        if hit is not None:
            return hit + 1
    return start + 1 if start or (loc and isinstance(loc[-1], int)) else None


def _item_end(lines: list[str], start: int, path: list[str]) -> int:
    """Where the last [[a.b]] item ends: at the next table that is not inside it (its own
    [[a.b.steps]] are)."""
    inner = re.compile(r"^\s*\[\[?\s*" + re.escape(".".join(path)) + r"\.")
    for n in range(start + 1, len(lines)):
        if re.match(r"^\s*\[", lines[n]) and not inner.match(lines[n]):
            return n
    return len(lines)


def _block_end(lines: list[str], start: int) -> int:
    for n in range(start + 1, len(lines)):
        if re.match(r"^\s*\[", lines[n]):
            return n
    return len(lines)


# --------------------------------------------------------------------------- next layer


def _keyword_extras(path: Path, data: dict[str, Any]) -> list[Finding]:
    """What loading looks at only once the rest is right: duplicate ids, and each rule's
    pattern even when another key of the rule is wrong."""
    findings = _duplicates(path, data, "rules", "id", "rule")
    lines = path.read_text(encoding="utf-8").splitlines()
    rules = data.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict) or rule.get("mode") != "regex":
            continue
        pattern = rule.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            continue
        try:
            compile_ops(pattern)
        except OpsPatternError as exc:
            findings.append(
                Finding(
                    "error",
                    str(path),
                    _line_of(lines, ("rules", i, "pattern")),
                    f"rule '{rule.get('id', f'#{i + 1}')}'",
                    f"pattern {exc.verdict}: {exc.advice}",
                )
            )
    return findings


def _duplicates(
    path: Path, data: dict[str, Any], key: str, id_key: str, label: str
) -> list[Finding]:
    lines = path.read_text(encoding="utf-8").splitlines()
    items = data.get(key)
    seen: dict[str, int] = {}
    findings = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        ident = item.get(id_key) if isinstance(item, dict) else None
        if not isinstance(ident, str):
            continue
        if ident in seen:
            findings.append(
                Finding(
                    "error",
                    str(path),
                    _line_of(lines, (key, i)),
                    f"{label} '{ident}'",
                    f"the {id_key} is used twice (first at line "
                    f"{_line_of(lines, (key, seen[ident]))}): give this one another {id_key}",
                )
            )
        else:
            seen[ident] = i
    return findings


def _config_extras(path: Path, data: dict[str, Any]) -> list[Finding]:
    findings = []
    if isinstance(data.get("accounts"), list):
        findings += _duplicates(path, data, "accounts", "id", "account")
    return findings


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per problem: the next layer may find again what validation found."""
    out: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for finding in findings:
        key = (finding.file, finding.what, finding.message.split(":")[0])
        if key in seen:
            continue
        seen.add(key)
        out.append(finding)
    return out


# --------------------------------------------------------------------------- warnings


def _no_super_admin(config_path: Path) -> Finding:
    return Finding(
        "warning",
        str(config_path),
        None,
        "[bot] super_admins",
        "empty: nobody can use the # commands beyond a listed group's owner, and nobody is "
        "told when content is refused or an account logs out. Add your contact id (send "
        "#我的ID to the bot by DM, or `mamabot contacts 名字`)",
    )


def everyday_messages(content_dir: Path) -> list[str]:
    """Ordinary group messages: the ham rows of the guard's corpus."""
    path = content_dir / "guard_examples.tsv"
    if not path.is_file():
        return []
    out = []
    for row in path.read_text(encoding="utf-8", errors="replace").splitlines():
        label, _, text = row.partition("\t")
        if label.strip() == "ham" and text.strip():
            out.append(text.strip())
    return out


def _valid_rules(path: Path) -> list[tuple[int, KeywordRule]]:
    """The rules of keywords.toml that load, with their place: the others are errors
    already, and one broken rule must not hide a catch-all next to it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    rules = data.get("rules")
    valid = []
    for i, raw in enumerate(rules if isinstance(rules, list) else []):
        try:
            rule = KeywordRule.model_validate(raw)
        except ValidationError:
            continue
        if rule.enabled:
            valid.append((i, rule))
    return valid


def _catch_alls(content_dir: Path, keyword_index: KeywordMatcher) -> list[Finding]:
    messages = everyday_messages(content_dir)
    path = content_dir / "keywords.toml"
    placed = _valid_rules(path) if path.is_file() else []
    if not messages or not placed:
        return []
    index = keyword_index([rule for _, rule in placed])
    answered: dict[int, int] = {}
    taken: dict[int, set[str]] = {}
    for text in messages:
        matched = index.match(text)
        for rule in matched:
            answered[id(rule)] = answered.get(id(rule), 0) + 1
        if len(matched) > 1:
            taken.setdefault(id(matched[0]), set()).update(r.id for r in matched[1:])
    lines = path.read_text(encoding="utf-8").splitlines()
    findings = []
    for i, rule in placed:
        share = answered.get(id(rule), 0) / len(messages)
        if share < CATCH_ALL_SHARE:
            continue
        findings.append(
            Finding(
                "warning",
                str(path),
                _line_of(lines, ("rules", i)),
                f"rule '{rule.id}'",
                _catch_all_advice(rule, share, sorted(taken.get(id(rule), ()))),
            )
        )
    return findings


def _catch_all_advice(rule: KeywordRule, share: float, shadowed: list[str]) -> str:
    words = "、".join(rule.keywords) or "its pattern"
    text = f"would answer {share:.0%} of everyday group messages ({words})"
    if shadowed:
        text += f", before the rules {', '.join(shadowed[:5])}"
        text += f" (priority {rule.priority})" if rule.priority else ""
    return (
        text + ': use words only a question about this topic has, mode = "exact" or '
        '"word", require = "all", or a lower priority'
    )


# --------------------------------------------------------------------------- automation


def _loaded(path: Path, model: type[M]) -> M | None:
    """The file as loading reads it, or None (its own errors are reported elsewhere)."""
    if not path.is_file():
        return None
    try:
        return load_model(path, model)
    except ConfigError:
        return None


def _automation_references(content_dir: Path, config: AppConfig) -> list[Finding]:
    """What posts.toml and sequences.toml name in other files: stages, dialogs, keyword
    rules, channel codes, links, groups and the quiet hours. Each loads alone, and would
    then never fire, enrol or send."""
    findings: list[Finding] = []
    sequences = _loaded(content_dir / "sequences.toml", SequencesContent)
    posts = _loaded(content_dir / "posts.toml", PostsContent)
    links = {
        link.id
        for seq in (sequences.sequences if sequences else [])
        for step in seq.steps
        for link in step.links
    }
    links |= {link.id for post in (posts.posts if posts else []) for link in post.links}
    if sequences is not None:
        findings += _sequence_references(content_dir, sequences, config, links)
    if posts is not None:
        findings += _post_references(content_dir / "posts.toml", posts, config)
    return findings


def _sequence_references(
    content_dir: Path, content: SequencesContent, config: AppConfig, links: set[str]
) -> list[Finding]:
    path = content_dir / "sequences.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    dialogs = _loaded(content_dir / "dialogs.toml", DialogsContent)
    keywords = _loaded(content_dir / "keywords.toml", KeywordsContent)
    channels = _loaded(content_dir / "channels.toml", ChannelsContent)
    known: dict[str, set[str] | None] = {
        "stage": set(STAGE_NAMES),
        "keyword": {r.id for r in keywords.rules} if keywords else None,
        "channel": {c.name for c in channels.codes} if channels else None,
        "link": links,
    }
    where = {
        "keyword": "keywords.toml rule ids",
        "channel": "channels.toml code names",
        "link": "the link ids of posts.toml and sequences.toml",
        "stage": "the stages",
    }
    findings = []

    def error(loc: tuple[Any, ...], what: str, message: str) -> None:
        findings.append(Finding("error", str(path), _line_of(lines, loc), what, message))

    quiet = _minutes_window(config.marketing.quiet_start, config.marketing.quiet_end)
    for i, seq in enumerate(content.sequences):
        label = f"sequence '{seq.id}'"
        for j, trigger in enumerate(seq.triggers):
            names = known.get(trigger.on)
            if names is not None and trigger.value not in names:
                error(
                    ("sequences", i, "triggers", j, "value"),
                    label,
                    f"trigger on {trigger.on} names '{trigger.value}', which is not one of "
                    f"{where[trigger.on]}: it would never enrol anyone",
                )
        for stage in seq.stages:
            if stage not in STAGE_NAMES:
                error(("sequences", i, "stages"), label, _unknown_stage(stage))
        windows: list[tuple[tuple[Any, ...], str]] = (
            [(("sequences", i, "window"), seq.window)] if seq.window else []
        )
        for k, step in enumerate(seq.steps):
            step_label = f"{label}, step '{step.id}'"
            for stage in step.stages:
                if stage not in STAGE_NAMES:
                    error(("sequences", i, "steps", k, "stages"), step_label, _unknown_stage(stage))
            if step.dialog and dialogs is not None and dialogs.get(step.dialog) is None:
                error(
                    ("sequences", i, "steps", k, "dialog"),
                    step_label,
                    f"dialog '{step.dialog}' is not in dialogs.toml: name one of "
                    + (", ".join(d.id for d in dialogs.dialogs) or "(none yet)"),
                )
            if step.window:
                windows.append((("sequences", i, "steps", k, "window"), step.window))
            if step.invite and step.invite not in {room.match for room in config.rooms}:
                findings.append(
                    Finding(
                        "warning",
                        str(path),
                        _line_of(lines, ("sequences", i, "steps", k, "invite")),
                        step_label,
                        f"'{step.invite}' is not listed under [[rooms]] in config.toml: "
                        "invitations go only to the brand's listed groups, so nobody is "
                        "invited. List the group there, or fix the name",
                    )
                )
        marketing = config.marketing
        for loc, text in windows:
            start, end = parse_window(text)
            if _never_outside(start, end, quiet):
                findings.append(
                    Finding(
                        "warning",
                        str(path),
                        _line_of(lines, loc),
                        label,
                        f"window {text} lies inside the quiet hours ({marketing.quiet_start}-"
                        f"{marketing.quiet_end}, [marketing] in config.toml): its texts "
                        "would wait for ever; move the window or the quiet hours",
                    )
                )
    return findings


def _post_references(path: Path, content: PostsContent, config: AppConfig) -> list[Finding]:
    lines = path.read_text(encoding="utf-8").splitlines()
    tags = {tag for room in config.rooms for tag in room.tags}
    listed = {room.match for room in config.rooms}
    findings = []
    for i, post in enumerate(content.posts):
        for tag in post.room_tags:
            if tag not in tags:
                findings.append(
                    Finding(
                        "warning",
                        str(path),
                        _line_of(lines, ("posts", i, "room_tags")),
                        f"post '{post.id}'",
                        f"no group in config.toml [[rooms]] has the tag '{tag}': the post reaches "
                        "no group through it. Add the tag to a [[rooms]] block, or fix the name",
                    )
                )
        for name in post.rooms:
            if name not in listed:
                findings.append(
                    Finding(
                        "warning",
                        str(path),
                        _line_of(lines, ("posts", i, "rooms")),
                        f"post '{post.id}'",
                        f"'{name}' is not listed under [[rooms]] in config.toml: posts go only to "
                        "the brand's listed groups, so this one gets nothing",
                    )
                )
    return findings


def _unknown_stage(stage: str) -> str:
    near = difflib.get_close_matches(stage, STAGE_NAMES, n=1, cutoff=0.3)
    hint = f"did you mean '{near[0]}'? " if near else ""
    return f"'{stage}' is not a stage: {hint}the stages are {', '.join(STAGE_NAMES)}"


def _minutes_window(start: str, end: str) -> tuple[int, int]:
    h1, m1 = start.split(":")
    h2, m2 = end.split(":")
    return int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)


def _never_outside(start: int, end: int, quiet: tuple[int, int]) -> bool:
    """Whether every minute of the window [start, end) is a quiet minute."""

    def is_quiet(minute: int) -> bool:
        q0, q1 = quiet
        if q0 == q1:
            return False
        return q0 <= minute < q1 if q0 < q1 else minute >= q0 or minute < q1

    minute, length = start, (end - start) % (24 * 60) or 24 * 60
    return all(is_quiet((minute + n) % (24 * 60)) for n in range(length))


# --------------------------------------------------------------------------- guard corpus

EXAMPLE_LABELS = ("spam", "ham")


def _guard_examples(path: Path) -> list[Finding]:
    """Rows of the guard's corpus the model would skip (it learns from the rest): a label
    that is not spam or ham, no tab, no text; and a text labelled both ways."""
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return [Finding("error", str(path), None, "", "file is not UTF-8 text: save it as UTF-8")]
    findings: list[Finding] = []
    seen: dict[str, tuple[str, int]] = {}

    def skipped(number: int, why: str) -> None:
        findings.append(
            Finding("warning", str(path), number, "", f"{why}; the model skips this row")
        )

    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        label, tab, text = line.partition("\t")
        if not tab:
            skipped(number, "no tab between the label and the text (spam<TAB>text)")
        elif label not in EXAMPLE_LABELS:
            near = difflib.get_close_matches(label.strip().lower(), EXAMPLE_LABELS, n=1)
            hint = f": did you mean '{near[0]}'?" if near else ""
            skipped(number, f"label '{label}' is not spam or ham{hint}")
        elif not text.strip():
            skipped(number, "no text after the label")
        else:
            first = seen.setdefault(text.strip(), (label, number))
            if first[0] != label:
                findings.append(
                    Finding(
                        "warning",
                        str(path),
                        number,
                        "",
                        f"the same text is labelled {first[0]} at line {first[1]}: keep one",
                    )
                )
    return findings
