"""The one template renderer: ops text with {placeholders} filled in.

Which placeholders a text may use is checked when the content is loaded
(`bot.config.check_placeholders`); this only fills them.
"""

from __future__ import annotations


def render(template: str, values: dict[str, str]) -> str:
    """Fill {placeholders} without str.format, so ops text may contain other braces."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template
