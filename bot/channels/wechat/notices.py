"""WeChat subscription notifications (订阅通知, `message/subscribe/bizsend`): how a notice's
Brief fills a template's fields, within WeChat's limits.

The operator picks, in the Official Account's back office, one template per kind of notice and
sets its id as `WECHAT_TEMPLATE_<KIND>`; the fields below are the keywords those templates must
have (reminder: 活动名称 thing1, 活动时间 time2, 活动地点 thing3; result: 事项 thing1,
结果 phrase2, 备注 thing3). WeChat refuses a value over its field's limit, so values are cut
with an ellipsis.
"""

from __future__ import annotations

from datetime import datetime

from bot.model import Brief

LIMITS = {  # characters per field type, as WeChat documents them
    "thing": 20,
    "phrase": 5,
    "name": 10,
    "symbol": 5,
    "car_number": 8,
    "phone_number": 17,
    "character_string": 32,
    "number": 32,
    "letter": 32,
}
LAYOUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "reminder": (("thing1", "subject"), ("time2", "when"), ("thing3", "note")),
    "result": (("thing1", "subject"), ("phrase2", "state"), ("thing3", "note")),
}
EMPTY = "-"  # WeChat refuses an empty value


def fit(field: str, value: str) -> str:
    """A value as the field takes it: one line, a time in WeChat's format, cut to the limit."""
    kind = field.rstrip("0123456789")
    value = " ".join(value.split()) or EMPTY
    if kind == "time":
        try:
            return datetime.strptime(value, "%Y-%m-%d %H:%M").strftime("%Y年%m月%d日 %H:%M")
        except ValueError:
            return value
    limit = LIMITS.get(kind)
    return value if limit is None or len(value) <= limit else value[: limit - 1] + "…"


def template_data(brief: Brief) -> dict[str, dict[str, str]]:
    """The `data` of a bizsend call for this notice."""
    layout = LAYOUTS.get(brief.kind, LAYOUTS["result"])
    return {field: {"value": fit(field, str(getattr(brief, part)))} for field, part in layout}
