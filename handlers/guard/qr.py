"""QR codes in images posted to a group: a personal WeChat code, a group code, a shop link.

`decode(data)` reads a JPEG / PNG / GIF / WebP and returns the text of every QR code in it
(zxing-cpp). It never raises on bad input: a broken or oversized file is logged and gives
nothing. `describe(payload)` names what a code leads to, for the warning's reason.
"""

from __future__ import annotations

import io
import logging
import warnings
from urllib.parse import urlsplit

import zxingcpp
from PIL import Image

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024  # a phone photo is a few MB
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
MAX_SIDE = 2000  # larger images are scaled down first: QR codes stay readable, decoding fast
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")


def decode(data: bytes) -> list[str]:
    if not data or len(data) > MAX_BYTES:
        if data:
            log.warning(
                "image of %d bytes not checked for QR codes (limit %d)", len(data), MAX_BYTES
            )
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Only the formats phones send: Pillow would otherwise hand EPS to Ghostscript.
            opened = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = opened.size
            if width * height > MAX_PIXELS:
                log.warning("image of %dx%d not checked for QR codes", width, height)
                return []
            if opened.format == "JPEG":
                opened.draft("L", (MAX_SIDE, MAX_SIDE))  # decode at a reduced size: less memory
            image = opened.convert("L")
        if max(width, height) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE))
        found = zxingcpp.read_barcodes(image, formats=_QR)
    except Exception as exc:  # any unreadable file is "no QR code"
        log.info("image not readable for QR codes: %s", exc)
        return []
    return [code.text for code in found if code.valid and code.text]


# What a QR code in a member's image is acted on for: a way to reach or pay someone. A
# hospital report, a vaccination record or a parcel label carries a code too, to a page.
SOLICITING = (
    "个人微信二维码",
    "微信群二维码",
    "企业微信二维码",
    "公众号二维码",
    "QQ二维码",
    "收款码",
)


def describe(payload: str) -> str:
    """A short Chinese name for where the code leads ("个人微信二维码", "群二维码", ...)."""
    text = payload.strip()
    lower = text.lower()
    if lower.startswith("wxp://") or lower.startswith("https://wx.tenpay.com"):
        return "收款码"
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host, path = (parts.hostname or "").lower(), parts.path
    if host == "qr.alipay.com":
        return "收款码"
    if host in ("qm.qq.com", "qr.qq.com") or (host == "im.qq.com" and "qr" in path):
        return "QQ二维码"
    if host == "weixin.qq.com" and path.startswith("/q/"):
        return "公众号二维码"
    if host == "u.wechat.com" or (host == "weixin.qq.com" and path.startswith("/r/")):
        return "个人微信二维码"
    if host == "weixin.qq.com" and path.startswith("/g/"):
        return "微信群二维码"
    if host.endswith("work.weixin.qq.com") or host == "work.weixin.qq.com":
        return "企业微信二维码"
    if "." in host and " " not in text:
        return f"二维码链接 {host}"
    return "二维码"
