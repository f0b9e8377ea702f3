"""The catalogue is data: the programme's bases, forms and rules, checked on load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.catalog import DEFAULT_PATH, load_catalog
from bot.errors import ConfigError


def test_the_eight_bases_in_two_groups() -> None:
    catalog = load_catalog()
    provincial = [b.name.zh for b in catalog.bases if b.level == "provincial"]
    municipal = [b.name.zh for b in catalog.bases if b.level == "municipal"]
    assert provincial == ["无锡经开区金匮公园", "宜兴云湖景区吊桥基地", "江阴高新区蟠龙山公园"]
    assert len(municipal) == 5 and "滨湖区长广溪国家湿地公园" in municipal


def test_forms_and_rules() -> None:
    catalog = load_catalog()
    offered = [f.name.zh for f in catalog.forms if f.offered]
    assert offered == ["造林绿化", "自然保护", "认种认养", "捐资", "捐物", "志愿服务"]
    assert len(catalog.forms) == 9
    assert catalog.trees_for_yuan(60) == 3 and catalog.trees_for_yuan(59) == 2
    donation = catalog.form("donation")
    assert donation is not None
    assert (
        catalog.certificate_gap(donation, 59) == 1 and catalog.certificate_gap(donation, 60) == 0
    )
    assert (catalog.rules.duty_min_trees, catalog.rules.duty_max_trees) == (3, 5)


def test_conversion_is_configurable(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["yuan_per_tree"] = {"1": 20, "2": 15}
    raw["region_class"] = 2
    raw["certificate"]["min_donation_yuan"] = 45
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    catalog = load_catalog(path)
    assert catalog.trees_for_yuan(45) == 3 and catalog.rules.min_donation_yuan == 45


def test_a_base_offering_an_unknown_form_is_refused(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["bases"][0]["forms"].append("tending")  # an official form this deployment does not offer
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown forms"):
        load_catalog(path)
