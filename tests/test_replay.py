"""`mamabot replay`: the public JSONL contract, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

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
