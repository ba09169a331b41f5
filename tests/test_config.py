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
    assert "config.toml: outbox.pacing.max_per_hour: Input should be a valid integer" in out
    assert "config.toml: bot.nmae: unknown key" in out
    assert "keywords.toml: rules[0]: pattern is not a valid regular expression" in out
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
    assert "pattern cannot be used (rule 'not-returns'): negative lookbehind" in out
    problems = holder.reload()
    assert problems and "rule 'not-returns'" in problems[0]
    assert holder.current is before
