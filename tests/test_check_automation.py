"""`mamabot check` validates posts.toml and sequences.toml like the other files: every
mistake in one run, by file, line and id, and what they name in other files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.harness import copy_project

POSTS = """\
[[posts]]
id = "morning"
schedule = "0 8 * *"
text = "早上好"

[[posts]]
id = "evening"
schedule = "20:00"
room_tags = ["宝妈群"]
rooms = ["别人的群"]
variants = ["晚安 {link:story}", "睡前故事"]

[[posts.links]]
id = "story"
url = "https://shop.example.com/story"

[[posts]]
id = "evening"
schedule = "21:00"
text = "重复的"
"""

SEQUENCES = """\
[[sequences]]
id = "mid"
stages = ["孕中期"]
window = "22:00-23:00"

[[sequences.triggers]]
on = "stage"
value = "孕中"

[[sequences.triggers]]
on = "keyword"
value = "no-such-rule"

[[sequences.triggers]]
on = "link"
value = "story"

[[sequences.steps]]
id = "day1"
delay = "1d"
text = "你好 {link:guide}"

[[sequences.steps.links]]
id = "guide"
url = "https://shop.example.com/guide"

[[sequences.steps]]
id = "day3"
delay = "3 days"
text = "第三天"

[[sequences]]
id = "late"

[[sequences.triggers]]
on = "tag"
value = "关注:新生儿知识"

[[sequences.steps]]
id = "ask"
dialog = "no-such-dialog"
stages = ["新生期"]

[[sequences.steps]]
id = "invite"
invite = "别人的群"
"""


def _project(tmp_path: Path, posts: str, sequences: str) -> Path:
    copy_project(tmp_path)
    (tmp_path / "content" / "posts.toml").write_text(posts, encoding="utf-8")
    (tmp_path / "content" / "sequences.toml").write_text(sequences, encoding="utf-8")
    return tmp_path


def test_every_mistake_in_posts_and_sequences_is_reported_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, POSTS, SEQUENCES)
    assert main(["check", "--dir", str(project)]) == 1
    out = capsys.readouterr().out
    expected = [
        "posts.toml:3: post 'morning': schedule: not a cron schedule or HH:MM: '0 8 * *'",
        "posts.toml:17: post 'evening': the id is used twice (first at line 6)",
        "sequences.toml:29: sequence 'mid', step 'day3': delay: a delay is like 30m",
    ]
    for line in expected:
        assert line in out, (line, out)


def test_references_to_other_files_are_checked_once_each_file_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    posts = POSTS.replace('"0 8 * *"', '"0 8 * * *"').rsplit("[[posts]]", 1)[0]
    sequences = SEQUENCES.replace('"3 days"', '"3d"')
    project = _project(tmp_path, posts, sequences)
    assert main(["check", "--dir", str(project)]) == 1
    out = capsys.readouterr().out
    expected = [
        "sequences.toml:8: sequence 'mid': trigger on stage names '孕中', which is not one "
        "of the stages",
        "sequences.toml:12: sequence 'mid': trigger on keyword names 'no-such-rule', which is "
        "not one of keywords.toml rule ids",
        "sequences.toml:41: sequence 'late', step 'ask': dialog 'no-such-dialog' is not in "
        "dialogs.toml",
        "sequences.toml:42: sequence 'late', step 'ask': '新生期' is not a stage: did you mean",
        "warning: ",
    ]
    for line in expected:
        assert line in out, (line, out)
    # The link trigger names a link a post defines: no error for it.
    assert "names 'story'" not in out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert any(
        "sequences.toml:4: sequence 'mid': window 22:00-23:00 lies inside" in w for w in warnings
    ), warnings
    assert any(
        "posts.toml:9: post 'evening': no group in config.toml [[rooms]] has the tag '宝妈群'" in w
        for w in warnings
    ), warnings
    assert any(
        "posts.toml:10: post 'evening': '别人的群' is not listed under [[rooms]]" in w
        for w in warnings
    ), warnings


def test_the_shipped_automation_content_checks_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_project(tmp_path)
    assert main(["check", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "scheduled posts" in out and "nurture sequences" in out
    assert "sequences.toml" not in out and "posts.toml" not in out  # no finding about them
