"""Config validation errors name file, key path and expectation; reload keeps the old content."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import ContentHolder
from bot.cli import main
from bot.config import ConfigError, load_config, load_content
from tests.harness import REPO, copy_project


def test_shipped_config_and_content_are_valid(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", "--dir", str(REPO)]) == 0
    assert capsys.readouterr().out.startswith("ok:")


def test_errors_name_file_key_and_expectation(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    copy_project(tmp_path)
    (tmp_path / "config.toml").write_text(
        '[outbox.pacing]\nmax_per_hour = "lots"\n[bot]\nnmae = "x"\n', encoding="utf-8"
    )
    kw = tmp_path / "content" / "keywords.toml"
    kw.write_text(
        '[[rules]]\nid = "a"\nmode = "regex"\npattern = "([unclosed"\nreplies = ["x"]\n',
        encoding="utf-8",
    )
    assert main(["check", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "config.toml:2: [outbox.pacing] max_per_hour: Input should be a valid integer" in out
    assert "config.toml:4: [bot]: unknown key 'nmae': did you mean 'name'?" in out
    assert "keywords.toml:4: rule 'a': pattern is not a valid regular expression" in out
    assert "([unclosed" not in out  # named by its rule, not printed raw
    assert "3 error(s)" in out


def test_toml_syntax_error_is_reported(tmp_path: Path) -> None:
    copy_project(tmp_path)
    (tmp_path / "content" / "welcome.toml").write_text("group_template = \n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_content(tmp_path / "content")
    assert "welcome.toml" in str(err.value) and "TOML syntax error" in str(err.value)


def test_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    copy_project(tmp_path)
    (tmp_path / "content" / "welcome.toml").write_text(
        'group_template = "欢迎 {nmaes}"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        load_content(tmp_path / "content")
    assert "group_template: unknown placeholder {nmaes}" in str(err.value)


def test_broken_edit_keeps_old_content_in_force(tmp_path: Path) -> None:
    copy_project(tmp_path)
    holder = ContentHolder(tmp_path / "content", load_content(tmp_path / "content"))
    before = holder.current
    welcome = tmp_path / "content" / "welcome.toml"
    welcome.write_text("batch_window_seconds = -5\n", encoding="utf-8")
    problems = holder.reload()
    assert problems and "batch_window_seconds" in problems[0]
    assert holder.current is before
    welcome.write_text("batch_window_seconds = 10\n", encoding="utf-8")
    assert holder.reload() == []
    assert holder.current.welcome.batch_window_seconds == 10


def test_missing_config_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.toml")
    assert config.outbox.pacing.min_interval_seconds == 2.0
    assert config.outbox.pacing.max_per_hour == 300


def test_a_guard_room_block_changes_only_what_it_names(tmp_path: Path) -> None:
    copy_project(tmp_path)
    (tmp_path / "content" / "guard.toml").write_text(
        "[guard]\nwarn_at = 0.5\nallowed_domains = ['shop.cn']\n"
        "[guard.blocked_words]\n'刷单' = 0.9\n'日赚' = 0.8\n"
        "[guard.types]\ncard = 'kick'\n"
        "[[rooms]]\nmatch = 'VIP群'\ntypes = { qr_image = 'kick' }\n"
        "blocked_words = { '日赚' = 0, '代购' = 0.7 }\n",
        encoding="utf-8",
    )
    guard = load_content(tmp_path / "content").guard
    vip = guard.for_room("R9", "VIP群")
    assert vip.warn_at == 0.5 and vip.allowed_domains == ["shop.cn"]
    assert vip.blocked_words == {"刷单": 0.9, "日赚": 0, "代购": 0.7}
    assert vip.types["card"] == "kick" and vip.types["qr_image"] == "kick"
    assert vip.types["mini_program"] == "warn"  # the built-in default
    assert guard.for_room("R1", "别的群").types["qr_image"] == "warn"


def test_an_unknown_message_type_in_guard_policy_is_refused(tmp_path: Path) -> None:
    copy_project(tmp_path)
    (tmp_path / "content" / "guard.toml").write_text(
        "[guard.types]\nmini_progam = 'kick'\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        load_content(tmp_path / "content")
    assert "guard.toml: guard.types: unknown message type 'mini_progam'" in str(err.value)


def test_check_and_reload_refuse_a_pattern_re2_cannot_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Ops' regexes run on RE2 (linear time): a look-around is refused by name and rule id,
    and a reload keeps the rules in force."""
    copy_project(tmp_path)
    holder = ContentHolder(tmp_path / "content", load_content(tmp_path / "content"))
    before = holder.current
    kw = tmp_path / "content" / "keywords.toml"
    kw.write_text(
        kw.read_text(encoding="utf-8")
        + '\n[[rules]]\nid = "not-returns"\nmode = "regex"\npattern = "(?<!不)退货"\n'
        'replies = ["x"]\n',
        encoding="utf-8",
    )
    assert main(["check", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "rule 'not-returns': pattern cannot be used: negative lookbehind" in out
    problems = holder.reload()
    assert problems and "rule 'not-returns'" in problems[0]
    assert holder.current is before


def test_check_reports_every_mistake_of_a_broken_project_in_one_run(capsys) -> None:  # type: ignore[no-untyped-def]
    """tests/broken/ holds one mistake per file (see its files): each is reported, with
    its file, line and rule id and what to do, in a single run."""
    broken = REPO / "tests" / "broken"
    assert main(["check", "--dir", str(broken)]) == 1
    out = capsys.readouterr().out
    expected = [
        "config.toml:4: [bot] timezone: 'Beijing' is not a time zone name",
        "config.toml:7: [storage] database_url: unsupported database mysql://",
        "content/keyword.toml: unknown file, a misspelling of keywords.toml?",
        "content/welcome.toml:1: group_template: unknown placeholder {nmaes}",
        "content/channels.toml:1: channel code '小红书': a channel code needs",
        "content/keywords.toml:17: rule 'broken-regex': pattern is not a valid regular",
        "content/keywords.toml:24: rule 'two-mistakes': pattern cannot be used: negative",
        "content/keywords.toml:25: rule 'two-mistakes': unknown key 'replys': did you mean",
        "content/keywords.toml:27: rule 'eczema': the id is used twice (first at line 9)",
        "content/fallback.toml:2: TOML syntax error",
        "10 error(s), 2 warning(s)",
    ]
    for line in expected:
        assert line in out, line
    assert "rules[" not in out and "(退货|换货" not in out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "config.toml: [bot] super_admins: empty" in warnings[0]
    assert "keywords.toml:3: rule 'everything': would answer 33% of everyday" in warnings[1]


def test_check_of_a_folder_that_does_not_exist_fails(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", "--dir", str(tmp_path / "nope")]) == 1
    assert "folder not found" in capsys.readouterr().out


def test_check_warns_without_failing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A catch-all rule and a bot without super admins load: warnings, exit 0."""
    copy_project(tmp_path)
    kw = tmp_path / "content" / "keywords.toml"
    kw.write_text(
        kw.read_text(encoding="utf-8")
        + '\n[[rules]]\nid = "baby"\nkeywords = ["宝宝"]\nreplies = ["在的"]\npriority = 9\n',
        encoding="utf-8",
    )
    assert main(["check", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok:")
    assert "warning: " in out and "rule 'baby': would answer" in out
    assert "[bot] super_admins: empty" in out


def test_a_zone_or_database_loading_cannot_use_is_refused(tmp_path: Path) -> None:
    """`run` used to die on these (ZoneInfoNotFoundError, ModuleNotFoundError)."""
    (tmp_path / "config.toml").write_text(
        '[bot]\ntimezone = "Beijing"\n[storage]\ndatabase_url = "mysql://x@h/db"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "config.toml")
    assert "bot.timezone" in str(err.value) and "storage.database_url" in str(err.value)


def test_check_names_the_guard_corpus_rows_the_model_would_skip(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    copy_project(tmp_path)
    corpus = tmp_path / "content" / "guard_examples.tsv"
    corpus.write_text(
        "# label<TAB>text\n"
        "spam\t加我微信领小样\n"
        "spma\t兼职日结\n"
        "ham 宝宝几个月可以吃辅食\n"
        "ham\t\n"
        "ham\t加我微信领小样\n",
        encoding="utf-8",
    )
    assert main(["check", "--dir", str(tmp_path)]) == 0  # the bot runs: warnings only
    out = capsys.readouterr().out
    for line in (
        "guard_examples.tsv:3: label 'spma' is not spam or ham: did you mean 'spam'?",
        "guard_examples.tsv:4: no tab between the label and the text",
        "guard_examples.tsv:5: no text after the label",
        "guard_examples.tsv:6: the same text is labelled spam at line 2",
    ):
        assert line in out, (line, out)
