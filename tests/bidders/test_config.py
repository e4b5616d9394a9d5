import pytest

from bidders.config import ConfigError, parse_config, parse_sweep, read_config_file, sweep_points


@pytest.mark.parametrize("data, key", [
    ({"market": {"rules": ["second_price", "vickrey_plus"]}}, "market.rules"),
    ({"market": {"round_budget": -5}}, "market.round_budget"),
    ({"market": {"campaign_budget": 0}}, "market.campaign_budget"),
    ({"population": {"size": 0}}, "population.size"),
    ({"population": {"cost": {"dist": "lognormal", "sigma": -0.1}}}, "population.cost.lognormal.sigma"),
    ({"population": {"cost": {"dist": "uniform", "low": 0.3, "high": 0.1}}}, "population.cost.uniform"),
    ({"population": {"cost": {"dist": "weibull"}}}, "population.cost"),
    ({"population": {"kinds": {"wizard": {"share": 0.1}}}}, "population.kinds"),
    ({"population": {"availability": 0}}, "population.availability"),
    ({"strategies": {"learning": {"arms": 1}}}, "strategies.learning.arms"),
    ({"run": {"sedes": [1]}}, "run.sedes"),
    ({"run": {"seeds": []}}, "run.seeds"),
])
def test_a_bad_value_is_refused_with_its_key_named(data, key):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert f"{key}:" in str(err.value)


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        parse_config({"market": {"round_budget": -1, "rounds": 0}})
    assert "market.round_budget:" in str(err.value) and "market.rounds:" in str(err.value)


def test_a_partial_kinds_table_keeps_the_other_defaults():
    cfg = parse_config({"population": {"kinds": {"spammer": {"share": 0.3}}}})
    assert cfg.population.kinds["spammer"].share == 0.3
    assert cfg.population.kinds["spammer"].cost_factor == 0.4
    assert cfg.population.kinds["diligent"].share == 0.6


def test_toml_and_yaml_read_the_same(tmp_path):
    (tmp_path / "c.toml").write_text('[market]\nrules = ["first_price"]\nrounds = 7\n')
    (tmp_path / "c.yaml").write_text("market:\n  rules: [first_price]\n  rounds: 7\n")
    assert read_config_file(tmp_path / "c.toml") == read_config_file(tmp_path / "c.yaml")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ConfigError, match="neither"):
        read_config_file(tmp_path / "c.json")


def test_sweep_is_the_cartesian_product_and_validates_every_point_first():
    sweeps = parse_sweep(["market.round_budget=5,10", "population.availability=0.5,1"])
    assert sweeps == [("market.round_budget", [5, 10]), ("population.availability", [0.5, 1])]
    points = sweep_points({}, sweeps)
    assert [p for p, _ in points] == [
        {"market.round_budget": b, "population.availability": a} for b in (5, 10) for a in (0.5, 1)]
    assert points[3][1].market.round_budget == 10
    with pytest.raises(ConfigError, match="market.round_budget:"):
        sweep_points({}, parse_sweep(["market.round_budget=5,-1"]))
    with pytest.raises(ConfigError, match="key=v1,v2"):
        parse_sweep(["market.round_budget"])
