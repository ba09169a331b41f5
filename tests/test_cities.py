"""The city list and the city matcher used by the dialogs."""

from __future__ import annotations

import pytest

from flows.cities import cities


def test_the_list_is_complete() -> None:
    index = cities()
    assert len(index) >= 333 + 4
    provinces = {c.province for c in index.cities}
    assert len(provinces) == 34  # 31 mainland units, 香港, 澳门, 台湾
    names = [c.name for c in index.cities]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("text", "city", "province"),
    [
        ("我在杭州", "杭州", "浙江"),
        ("杭州市", "杭州", "浙江"),
        ("坐标魔都", "上海", "上海"),
        ("帝都", "北京", "北京"),
        ("苏州工业园区", "苏州", "江苏"),
        ("广东深圳", "深圳", "广东"),
        ("老家湖南衡阳现在在长沙", "长沙", "湖南"),
        ("hangzhou", "杭州", "浙江"),
        ("Xi'an", "西安", "陕西"),
        ("延边", "延边", "吉林"),
        ("重庆渝北", "重庆", "重庆"),
        ("在 成都 呢", "成都", "四川"),
        ("襄樊", "襄阳", "湖北"),
    ],
)
def test_cities_people_type(text: str, city: str, province: str) -> None:
    found = cities().match(text)
    assert found is not None and (found.name, found.province) == (city, province)


@pytest.mark.parametrize(
    "text",
    ["你好", "不方便说", "早餐吃了三明治", "大理石地板", "祝你平安顺利", "Asian food", "广东"],
)
def test_no_city(text: str) -> None:
    assert cities().match(text) is None
