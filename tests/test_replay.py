"""`mamabot replay`: the public JSONL contract, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.harness import REPO


def replay(tmp_path: Path, lines: list[dict], capsys) -> tuple[int, list[dict], str]:  # type: ignore[no-untyped-def,type-arg]
    script = tmp_path / "script.jsonl"
    script.write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8"
    )
    code = main(["replay", str(script), "--config", str(REPO / "config.toml")])
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return code, out, captured.err


def test_join_message_friend_request_in_order(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = replay(
        tmp_path,
        [
            {
                "kind": "room",
                "id": "R1",
                "topic": "孕妈交流群",
                "owner": "owner1",
                "members": ["owner1", "a"],
                "at": "2026-11-25T09:00:00+08:00",
            },
            {"kind": "join", "room": "R1", "contact": "b", "name": "小美", "inviter": "a"},
            {"kind": "tick", "at": "2026-11-25T09:01:00+08:00"},
            {"kind": "message", "room": "R1", "from": "b", "text": "宝宝湿疹怎么办"},
            {"kind": "friend_request", "from": "c", "name": "小红", "hello": "我是从小红书来的"},
        ],
        capsys,
    )
    assert code == 0
    welcome = out[0]
    assert set(welcome) == {"action", "room", "to", "text", "mentions", "at"}
    assert (welcome["action"], welcome["room"], welcome["to"], welcome["mentions"]) == (
        "say",
        "R1",
        None,
        ["b"],
    )
    assert welcome["at"] == "2026-11-25T09:00:30+08:00"  # the batch window closed, not the tick
    answer = next(o for o in out[1:] if o["action"] == "say" and o["room"] == "R1")
    assert "湿疹" in answer["text"] and answer["mentions"] == ["b"]
    assert answer["at"] == "2026-11-25T09:01:00+08:00"
    friend = [o for o in out if o.get("contact") == "c" or o.get("to") == "c"]
    assert friend[0] == {
        "action": "tag",
        "contact": "c",
        "tag": "渠道:小红书",
        "op": "add",
        "source": "channel",
        "at": "2026-11-25T09:01:00+08:00",
    }
    assert friend[1] == {
        "action": "accept_friend",
        "contact": "c",
        "at": "2026-11-25T09:01:00+08:00",
    }
    assert friend[2]["action"] == "say" and friend[2]["room"] is None and friend[2]["to"] == "c"
    assert friend[2]["mentions"] == []


def test_pending_welcome_is_flushed_at_the_end_of_the_script(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = replay(
        tmp_path,
        [
            {
                "kind": "room",
                "id": "R1",
                "topic": "孕妈交流群",
                "owner": "o",
                "members": ["o"],
                "at": "2026-11-25T09:00:00+08:00",
            },
            {"kind": "join", "room": "R1", "contact": "b", "name": "小美"},
        ],
        capsys,
    )
    assert code == 0 and [o["action"] for o in out] == ["say"]
    assert out[0]["at"] == "2026-11-25T09:00:30+08:00"


def test_output_is_deterministic(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    lines = [
        {
            "kind": "room",
            "id": "R1",
            "topic": "孕妈交流群",
            "owner": "o",
            "members": ["o", "b"],
            "at": "2026-11-25T09:00:00+08:00",
        },
        {"kind": "message", "room": "R1", "from": "b", "text": "宝宝黄疸高怎么办"},
        {"kind": "message", "from": "b", "text": "纸尿裤怎么选尺码"},
    ]
    first = replay(tmp_path, lines, capsys)
    second = replay(tmp_path, lines, capsys)
    assert first[1] and first == second


def test_clock_never_moves_backwards(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = replay(
        tmp_path,
        [
            {
                "kind": "message",
                "from": "b",
                "text": "宝宝湿疹怎么办",
                "at": "2026-11-25T10:00:00+08:00",
            },
            {
                "kind": "message",
                "from": "c",
                "text": "宝宝湿疹怎么办",
                "at": "2026-11-25T09:00:00+08:00",
            },
        ],
        capsys,
    )
    assert code == 0
    times = [o["at"] for o in out if o["action"] == "say"]
    assert times == ["2026-11-25T10:00:00+08:00", "2026-11-25T10:00:00+08:00"]


def test_bad_line_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "bad.jsonl"
    script.write_text(
        '{"kind":"room","id":"R1"}\n{"kind":"mesage","from":"b","text":"x"}\n', encoding="utf-8"
    )
    assert main(["replay", str(script)]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "'kind' must be one of" in err and "mesage" in err

    script.write_text('{"kind":"message","from":"b"}\n', encoding="utf-8")
    assert main(["replay", str(script)]) == 1
    assert "line 1: 'text' is required" in capsys.readouterr().err

    script.write_text('{"kind":"tick","at":"tomorrow"}\n', encoding="utf-8")
    assert main(["replay", str(script)]) == 1
    assert "not an ISO 8601 time" in capsys.readouterr().err


def test_the_guard_and_admin_commands_add_no_new_action_names(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = replay(
        tmp_path,
        [
            {
                "kind": "room",
                "id": "R1",
                "topic": "孕妈交流群",
                "owner": "o",
                "members": ["o", "a", "x"],
                "at": "2026-11-25T09:00:00+08:00",
            },
            {"kind": "message", "room": "R1", "from": "x", "text": "好物分享 http://xyz.top/p"},
            {"kind": "message", "room": "R1", "from": "x", "text": "加我V❤信 mama88 日赚300"},
            {"kind": "message", "room": "R1", "from": "o", "text": "#标签 a 高意向"},
            {"kind": "message", "room": "R1", "from": "o", "text": "#警告 a 别刷屏"},
            {"kind": "message", "room": "R1", "from": "o", "text": "#统计"},
        ],
        capsys,
    )
    assert code == 0
    assert {o["action"] for o in out} == {"say", "kick", "tag"}
    warning = out[0]
    assert (
        warning["action"] == "say"
        and warning["mentions"] == ["x"]
        and "温馨提醒" in warning["text"]
    )
    (kick,) = [o for o in out if o["action"] == "kick"]
    assert (kick["room"], kick["contact"]) == ("R1", "x")


# Hostile or mistaken scripts: each is one clear `replay: FILE: line N: ...` error, before
# anything runs, never a traceback and never a walk of centuries of daily jobs.
ROOM = '{"kind":"room","id":"R1","topic":"孕妈交流群","owner":"o","members":["o"]}'
HOSTILE_LINES = [
    pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="deep-array"),
    pytest.param(
        '{"kind":"message","from":"b","text":"x","x":' + "[" * 50_000 + "]" * 50_000 + "}",
        "nested too deeply",
        id="deep-field",
    ),
    pytest.param(
        '{"kind":"message","from":"b","text":"x","n":' + "9" * 5000 + "}",
        "a number of 5000 digits",
        id="huge-integer",
    ),
    pytest.param(
        '{"kind":"message","from":' + "9" * 40 + ',"text":"x"}',
        "a number of 40 digits",
        id="integer-id",
    ),
    pytest.param(
        '{"kind":"message","room":5,"from":"b","text":"x"}',
        "'room' must be a string, got int",
        id="room-int",
    ),
    pytest.param(
        '{"kind":"join","room":{"id":"R1"},"contact":"b"}',
        "'room' must be a string, got dict",
        id="room-object",
    ),
    pytest.param(
        '{"kind":"room","id":"R1","owner":7}', "'owner' must be a string, got int", id="owner-int"
    ),
    pytest.param(
        '{"kind":"room","id":"R1","topic":["t"]}',
        "'topic' must be a string, got list",
        id="topic-list",
    ),
    pytest.param(
        '{"kind":"message","from":"b","text":"x","type":["text"]}',
        "'type' must be a string, got list",
        id="type-list",
    ),
    pytest.param(
        '{"kind":"message","from":"b","text":"x","type":3}',
        "'type' must be a string, got int",
        id="type-int",
    ),
    pytest.param(
        '{"kind":["message"],"from":"b","text":"x"}', "'kind' must be one of", id="kind-list"
    ),
    pytest.param(
        '{"kind":"join","room":"R1","contact":"b","name":5}',
        "'name' must be a string, got int",
        id="name-int",
    ),
    pytest.param(
        '{"kind":"join","room":"R1","contact":"b","inviter":true}',
        "'inviter' must be a string, got bool",
        id="inviter-bool",
    ),
    pytest.param(
        '{"kind":"friend_request","from":"c","hello":5}',
        "'hello' must be a string, got int",
        id="hello-int",
    ),
    pytest.param(
        '{"kind":"message","from":"","text":"x"}', "'from' must not be empty", id="empty-from"
    ),
    pytest.param(
        '{"kind":"friend_request","from":"  "}', "'from' must not be empty", id="blank-from"
    ),
    pytest.param(
        '{"kind":"join","room":"","contact":"b"}', "'room' must not be empty", id="empty-room"
    ),
    pytest.param(
        '{"kind":"message","from":"b","text":"x","mentions":[""]}',
        "an id in 'mentions' must not be empty",
        id="empty-mention",
    ),
    pytest.param(
        '{"kind":"message","from":"' + "b" * 129 + '","text":"x"}',
        "'from' is 129 characters long, at most 128",
        id="long-from",
    ),
    pytest.param(
        '{"kind":"room","id":"' + "R" * 1000 + '"}',
        "'id' is 1000 characters long, at most 128",
        id="long-room",
    ),
    pytest.param(
        '{"kind":"room","id":"R1","members":["' + "m" * 200 + '"]}',
        "an id in 'members' is 200 characters long",
        id="long-member",
    ),
    pytest.param(
        '{"kind":"join","room":"R1","contact":"b","name":"' + "名" * 300 + '"}',
        "'name' is 300 characters long, at most 255",
        id="long-name",
    ),
    pytest.param(
        '{"kind":"message","from":"b\\u0000","text":"x"}',
        "'from' holds a control character",
        id="nul-in-id",
    ),
    pytest.param(
        '{"kind":"message","from":"b\\ud800","text":"x"}',
        "'from' holds a control character or a lone surrogate",
        id="surrogate-in-id",
    ),
    pytest.param(
        '{"kind":"tick","at":"9999-12-31T23:59:59+08:00"}',
        "'at' must be in the years 2000-2099",
        id="year-9999",
    ),
    pytest.param(
        '{"kind":"tick","at":"0001-01-01T00:00:00+14:00"}',
        "'at' must be in the years 2000-2099",
        id="year-1",
    ),
]


@pytest.mark.parametrize(("line", "error"), HOSTILE_LINES)
def test_a_hostile_line_is_a_clear_error(tmp_path: Path, capsys, line: str, error: str) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "hostile.jsonl"
    script.write_text(ROOM + "\n" + line + "\n", encoding="utf-8")
    assert main(["replay", str(script), "--config", str(REPO / "config.toml")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before anything ran
    assert captured.err.startswith(f"replay: {script}: line 2: ")
    assert error in captured.err and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1


def test_a_jump_of_centuries_is_refused_not_walked(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # Every daily job between the two times would run: about two seconds a year.
    script = tmp_path / "jump.jsonl"
    script.write_text(
        '{"kind":"message","from":"b","text":"x","at":"2026-11-25T09:00:00+08:00"}\n'
        '{"kind":"tick","at":"2099-12-31T00:00:00+08:00"}\n',
        encoding="utf-8",
    )
    assert main(["replay", str(script)]) == 1
    err = capsys.readouterr().err
    assert "line 2: 'at' is more than 10 years after the script's first time" in err


def test_odd_text_is_made_storable_and_printable(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    lines = [
        {
            "kind": "room",
            "id": "R1",
            "topic": "孕妈\x00交流群\ud800",
            "owner": "o",
            "members": ["o"],
            "at": "2026-11-25T09:00:00+08:00",
        },
        {"kind": "join", "room": "R1", "contact": "b", "name": "小\ud83d美\x00"},
        {"kind": "message", "room": "R1", "from": "b", "text": "\u202e宝宝湿疹\x00怎么办\udc00"},
    ]
    script = tmp_path / "odd.jsonl"  # JSON escapes: the file itself is valid UTF-8
    script.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    code = main(["replay", str(script), "--config", str(REPO / "config.toml")])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err
    out = [json.loads(line) for line in captured.out.splitlines()]
    (welcome,) = [o for o in out if o["action"] == "say" and "欢迎" in o["text"]]
    assert "小\ufffd美\ufffd" in welcome["text"]


def test_a_line_the_bot_cannot_take_stops_with_its_line_number(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # A line the checks let through but the bot fails on is our bug: still one clear line
    # for the script's author, the trace only at --log-level DEBUG.
    import bot.replay

    async def fails(app, channel, step) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(bot.replay, "apply_step", fails)
    script = tmp_path / "s.jsonl"
    script.write_text("# a comment\n" + ROOM + "\n", encoding="utf-8")
    assert main(["replay", str(script), "--config", str(REPO / "config.toml")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"replay: {script}: line 2: stopped: RuntimeError: boom (--log-level DEBUG shows where)\n"
    )


# ---------------------------------------------------------------- tracked links: click

CLICK_HOSTILE = [
    ('{"kind":"click"}', "'token' is required"),
    ('{"kind":"click","token":7}', "'token' must be a string, got int"),
    ('{"kind":"click","token":""}', "'token' must be a link token"),
    ('{"kind":"click","token":"ab/cd"}', "'token' must be a link token"),
    ('{"kind":"click","token":"' + "A" * 65 + '"}', "'token' must be a link token"),
    ('{"kind":"click","token":"AAAA","from":""}', "'from' must not be empty"),
    ('{"kind":"click","token":"AAAA","from":["b"]}', "'from' must be a string, got list"),
]


@pytest.mark.parametrize(("line", "error"), CLICK_HOSTILE)
def test_a_bad_click_line_is_a_clear_error(tmp_path: Path, capsys, line: str, error: str) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "click.jsonl"
    script.write_text(ROOM + "\n" + line + "\n", encoding="utf-8")
    assert main(["replay", str(script), "--config", str(REPO / "config.toml")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"replay: {script}: line 2: ")
    assert error in captured.err and "Traceback" not in captured.err


def test_a_click_on_a_token_the_bot_never_sent_names_its_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "click.jsonl"
    script.write_text(
        ROOM + '\n{"kind":"click","token":"AAAAAAAAAAAAAAAAAAAAAA"}\n', encoding="utf-8"
    )
    assert main(["replay", str(script), "--config", str(REPO / "config.toml")]) == 1
    err = capsys.readouterr().err
    assert "line 2: no tracked link has the token 'AAAAAAAAAAAAAAAAAAAAAA'" in err
    assert "stopped" not in err  # the script's mistake, not the bot's


async def replay_with_a_link(lines: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    """A replay as `mamabot replay` runs it (seed 0, fresh database), on a bot that DMs
    b a tracked link first, as a nurture step will: the say, then the script's actions."""
    from datetime import datetime

    from bot.app import App, AppSettings
    from bot.clock import FakeClock
    from bot.config import LinkSpec
    from bot.replay import parse_script, run_script

    clock = FakeClock(datetime.fromisoformat("2026-11-25T09:00:00+08:00"))
    app = App.build(
        AppSettings(
            base_dir=REPO, database_url="sqlite://:memory:", redis_url="", clock=clock, seed=0
        )
    )
    out: list[dict] = []  # type: ignore[type-arg]
    app.action_observers.append(out.append)
    await app.open()
    try:
        assert app.links is not None
        link = LinkSpec(id="feeding", url="https://example.com/f", tags=["关注:新生儿知识"])
        text = await app.links.render(
            "新生儿喂养 {link:feeding}", [link], "seq:mid:day3", contact_id="b", account_id="sim"
        )
        await app.outbox.say(
            account_id="sim", room_id=None, contact_id="b", text=text, dedupe_key="link"
        )
        await app.settle()
        steps = parse_script(json.dumps(line, ensure_ascii=False) for line in lines)
        await run_script(app, steps, lambda record: None)
    finally:
        await app.stop(timeout=5)
    return out


async def test_a_seeded_replay_makes_the_same_token_so_a_script_can_click_it() -> None:
    # First run: the author reads the token off the say.
    (say,) = await replay_with_a_link([])
    token = say["text"].rsplit("/l/", 1)[1]
    assert say["text"] == f"新生儿喂养 http://127.0.0.1:8080/l/{token}" and len(token) >= 22
    # Second run, a fresh bot: the same token, and the script's click on it tags her.
    out = await replay_with_a_link(
        [{"kind": "click", "token": token, "at": "2026-11-25T09:05:00+08:00"}]
    )
    assert out[0]["text"] == say["text"]
    assert out[1:] == [
        {
            "action": "tag",
            "contact": "b",
            "tag": "关注:新生儿知识",
            "op": "add",
            "source": "link",
            "at": "2026-11-25T09:05:00+08:00",
        }
    ]
    # Clicked by someone it was not sent to: counted, nobody tagged.
    out = await replay_with_a_link([{"kind": "click", "token": token, "from": "c"}])
    assert [o["action"] for o in out] == ["say"]


@pytest.mark.parametrize("deleted", [False, True])
def test_a_mother_who_deleted_the_bot_gets_no_more_marketing(  # type: ignore[no-untyped-def]
    tmp_path: Path, capsys, deleted: bool
) -> None:
    """The intake's reminder a day later is a marketing DM: not after she deleted the bot."""
    lines: list[dict] = [  # type: ignore[type-arg]
        {"kind": "friend_request", "from": "c", "name": "小红", "at": "2026-11-25T09:00:00+08:00"},
    ]
    if deleted:
        lines.append({"kind": "unfriend", "from": "c", "at": "2026-11-25T10:00:00+08:00"})
    lines.append({"kind": "tick", "at": "2026-11-26T12:00:00+08:00"})
    code, out, _ = replay(tmp_path, lines, capsys)
    assert code == 0
    says = [o["text"] for o in out if o["action"] == "say" and o["to"] == "c"]
    reminded = [t for t in says if "有空再回复就好" in t]
    assert len(says) >= 2  # the greeting and the first question, before she left
    assert len(reminded) == (0 if deleted else 1)
