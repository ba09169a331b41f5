"""QR codes in images: the decoder, the names of where a code leads, and the guard's
qr_image policy through the real dispatcher and the simulator."""

from __future__ import annotations

import io

import segno
from PIL import Image

from handlers.guard import qr
from storage.models import GuardAudit
from tests.harness import BotUnderTest


def qr_png(payload: str, scale: int = 6) -> bytes:
    buf = io.BytesIO()
    segno.make(payload, error="m").save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def photo(qr_payload: str | None = None, *, big: bool = False) -> bytes:
    """A JPEG 'photo' with a QR code pasted in a corner if asked. A big one is a noisy
    3000x2200 picture of a megabyte or more, as phones send."""
    if big:
        image = Image.merge("RGB", [Image.effect_noise((3000, 2200), 40)] * 3)
    else:
        image = Image.new("RGB", (900, 700), (236, 214, 200))
    if qr_payload:
        code = Image.open(io.BytesIO(qr_png(qr_payload, scale=12 if big else 5))).convert("RGB")
        image.paste(code, (image.width - code.width - 40, image.height - code.height - 40))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_decode_reads_a_qr_code_in_a_png_and_in_a_photo() -> None:
    assert qr.decode(qr_png("https://u.wechat.com/EFaKe123")) == ["https://u.wechat.com/EFaKe123"]
    assert qr.decode(photo("https://weixin.qq.com/g/AbC")) == ["https://weixin.qq.com/g/AbC"]
    assert qr.decode(photo()) == []
    big = photo("https://u.wechat.com/EFaKe123", big=True)
    assert len(big) > 1_000_000 and qr.decode(big) == ["https://u.wechat.com/EFaKe123"]


def test_decode_never_raises_on_bad_or_oversized_input() -> None:
    assert qr.decode(b"") == []
    assert qr.decode(b"\xff\xd8" + b"x" * qr.MAX_BYTES) == []  # over the size limit
    assert qr.decode(b"not an image at all") == []
    assert qr.decode(qr_png("x")[:40]) == []  # a truncated file
    huge = Image.new("L", (8000, 6000), 255)  # 48 megapixels: refused before decoding
    buf = io.BytesIO()
    huge.save(buf, format="PNG")
    assert qr.decode(buf.getvalue()) == []


def test_describe_names_where_a_code_leads() -> None:
    assert qr.describe("https://u.wechat.com/EFaKe123") == "个人微信二维码"
    assert qr.describe("https://weixin.qq.com/r/abc") == "个人微信二维码"
    assert qr.describe("https://weixin.qq.com/g/AbC") == "微信群二维码"
    assert qr.describe("https://work.weixin.qq.com/u/x") == "企业微信二维码"
    assert qr.describe("wxp://f2f0abc") == "收款码"
    assert qr.describe("https://qr.alipay.com/fkx123") == "收款码"
    assert qr.describe("https://qm.qq.com/q/abc") == "QQ二维码"
    assert qr.describe("http://weixin.qq.com/q/02abc") == "公众号二维码"
    assert all(qr.describe(k) in qr.SOLICITING for k in ["wxp://x", "https://u.wechat.com/x"])
    assert qr.describe("https://shop.example.cn/p/1") == "二维码链接 shop.example.cn"
    assert qr.describe("你好") == "二维码"


async def test_a_member_posting_a_qr_code_is_warned_and_a_photo_is_left_alone() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        assert await bot.says("b", "", room="R1", image=photo()) == []  # her baby's photo
        (warning,) = await bot.says(
            "b", "", room="R1", name="小美", image=photo("https://u.wechat.com/EFaKe123")
        )
        assert warning["action"] == "say" and warning["mentions"] == ["b"]
        assert "二维码" in warning["text"] and "第1次" in warning["text"]
        row = await GuardAudit.get(contact_id="b", action="warn")
        assert "个人微信二维码" in row.reasons
        # The owner shares the group's own code: hers to share.
        assert await bot.says("o", "", room="R1", image=qr_png("https://weixin.qq.com/g/x")) == []


async def test_a_stricter_group_kicks_for_a_qr_code_at_once() -> None:
    async with BotUnderTest() as bot:
        bot.room("R9", "VIP宝妈群", owner="o", members=["o", "b"])
        done = await bot.says("b", "", room="R9", image=qr_png("https://weixin.qq.com/g/AbC"))
        assert done[0]["action"] == "kick" and "微信群二维码" in done[0]["reason"]


def test_only_the_image_formats_phones_send_are_opened() -> None:
    """EPS would be handed to Ghostscript by Pillow: it is not even opened."""
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
    assert Image.open(io.BytesIO(eps)).format == "EPS"  # what Pillow alone would do
    assert qr.decode(eps) == []


async def test_a_code_to_an_ordinary_page_is_left_alone_even_in_the_strict_group() -> None:
    async with BotUnderTest() as bot:
        bot.room("R9", "VIP宝妈群", owner="o", members=["o", "b"])
        report = photo("https://www.example-hospital.cn/report?id=123")  # a hospital report
        assert await bot.says("b", "", room="R9", image=report) == []
        assert not await GuardAudit.filter(contact_id="b").exists()
        pay = photo("https://qr.alipay.com/fkx123")  # a payment code is soliciting
        done = await bot.says("b", "", room="R9", image=pay)
        assert done[0]["action"] == "kick" and "收款码" in done[0]["reason"]


async def test_a_protected_members_image_is_never_fetched() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        fetched: list[str] = []
        fetch = bot.channel.image

        async def counting(message):  # type: ignore[no-untyped-def]
            fetched.append(message.sender_id)
            return await fetch(message)

        bot.channel.image = counting  # type: ignore[method-assign]
        code = qr_png("https://weixin.qq.com/g/x")
        assert await bot.says("o", "", room="R1", image=code) == []  # the owner
        await bot.says("b", "", room="R1", image=code)
        assert fetched == ["b"]
