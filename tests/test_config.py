import pytest

from routemate.config import EXAMPLE_CONFIG, build_settings, load_settings
from routemate.errors import ConfigError, InvalidRequest


def settings_from(text, env, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(env, path=path)


def test_no_config_means_embedded_local_only(env):
    s = load_settings(env)
    assert list(s.models) == ["local"]
    assert s.models["local"].backend == "embedded" and s.models["local"].tier == "local"
    assert s.config_file is None


def test_openai_key_adds_gpt4o_with_base_url_honoured(env):
    s = load_settings({**env, "OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://localhost:9/v1"})
    m = s.models["gpt-4o"]
    assert (m.tier, m.base_url, m.upstream_model, m.api_key_env) == ("frontier", "http://localhost:9/v1", "gpt-4o",
                                                                      "OPENAI_API_KEY")
    assert s.default_frontier() is m


def test_annotated_example_is_valid_and_matches_the_contract(env, tmp_path):
    s = settings_from(EXAMPLE_CONFIG, env, tmp_path)
    g = s.models["gpt4o"]
    assert (g.backend, g.base_url, g.model, g.api_key_env, g.tier, g.price_in, g.price_out) == (
        "openai", "https://api.openai.com/v1", "gpt-4o", "OPENAI_API_KEY", "frontier", 2.5, 10.0)
    assert s.models["local"].backend == "embedded"
    # the key is not set in this environment, so the frontier model cannot be tried
    assert s.available(g) == (False, "OPENAI_API_KEY is not set")


@pytest.mark.parametrize("text, field, words", [
    ("[models.local]\nbackend = \"embedded\"\ntier = \"local\"\ncolour = 1\n", "models.local.colour", "unknown field"),
    ("[models.x]\nbackend = \"openai\"\ntier = \"frontier\"\n", "models.x", "base_url"),
    ("[models.x]\nbackend = \"carrier-pigeon\"\n", "models.x.backend", "embedded"),
    ("[models.x]\nbackend = \"embedded\"\nprice_in = \"cheap\"\n", "models.x.price_in", "number"),
    ("[models.x]\nbackend = \"embedded\"\nprice_in = -1\n", "models.x.price_in", "greater than or equal"),
    ("[models.x]\nbackend = \"embedded\"\ntier = \"medium\"\n", "models.x.tier", "'local' or 'frontier'"),
    ("[models.x]\nbackend = \"embedded\"\n[routing]\nfrontier = \"nope\"\n", None, "routing.frontier"),
    ("[routing]\nthreshold = 2\n", "routing.threshold", "less than or equal"),
    ("[models.x]\nbackend = \"embedded\"\nweights = \"gpt-5\"\n", "models.x", "not in the model catalog; choose one "
     "of qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, smollm2-135m"),
    ("[models.x]\nbackend = \"embedded\"\nweights = \"smollm2-135m\"\npath = \"/m.gguf\"\n", "models.x", "not both"),
    ("[models.x]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nweights = \"smollm2-135m\"\n", "models.x",
     "for backend = \"embedded\""),
    ("[telemetry]\non = true\n", "telemetry", "unknown section"),
])
def test_invalid_config_names_file_field_and_problem(env, tmp_path, text, field, words):
    with pytest.raises(ConfigError) as info:
        settings_from(text, env, tmp_path)
    message = str(info.value)
    assert "config.toml" in message and words in message
    if field:
        assert field in message
    assert "\n" not in message


def test_broken_toml_says_where(env, tmp_path):
    with pytest.raises(ConfigError, match=r"config\.toml: not valid TOML .*line 2"):
        settings_from("[models.local]\nbackend = \n", env, tmp_path)


def test_explicit_config_path_must_exist(env, tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings({**env, "ROUTEMATE_CONFIG": str(tmp_path / "missing.toml")})


def test_home_and_log_paths_follow_env(env, tmp_path):
    s = load_settings({**env, "ROUTEMATE_HOME": str(tmp_path / "h")})
    assert s.home == tmp_path / "h" and s.log_path == tmp_path / "h" / "log.db"


def test_builtin_tutor_persona_and_clear_error_for_unknown(env):
    s = load_settings(env)
    assert "step by step" in s.persona("tutor").system_prompt
    with pytest.raises(InvalidRequest, match="unknown persona 'pirate'.*tutor"):
        s.persona("pirate")


def test_custom_persona_overrides_builtin(env):
    s = build_settings({"personas": {"tutor": {"system_prompt": "Be Socratic."}}}, env)
    assert s.persona("tutor").system_prompt == "Be Socratic."


def test_gateway_keys_merge_config_and_env(env):
    s = build_settings({"server": {"api_keys": ["a"]}}, {**env, "ROUTEMATE_API_KEYS": "b, c"})
    assert s.gateway_keys() == ["a", "b", "c"]


def test_tiers_sort_by_price(env):
    s = build_settings({"models": {
        "big": {"backend": "openai", "base_url": "http://x/v1", "tier": "frontier", "price_in": 10, "price_out": 30},
        "mid": {"backend": "openai", "base_url": "http://x/v1", "tier": "frontier", "price_in": 1, "price_out": 2},
        "small": {"backend": "embedded"}}}, env)
    assert [m.name for m in s.by_tier("frontier")] == ["mid", "big"]
    assert s.default_frontier().name == "big"


def test_embedded_weights_default_to_the_catalog_coder_model(tmp_path):
    s = build_settings({}, {"ROUTEMATE_HOME": str(tmp_path)})
    local = s.models["local"]
    assert s.catalog_model(local).name == "qwen2.5-coder-0.5b"
    assert local.fim_template == "qwen"          # the catalog's fill-in-the-middle template


def test_weights_name_a_catalog_model_and_path_any_file(env):
    s = build_settings({"models": {"a": {"backend": "embedded", "weights": "qwen2.5-coder-1.5b"},
                                   "b": {"backend": "embedded", "path": "/m/x.gguf"},
                                   "c": {"backend": "embedded", "path": "/m/y.gguf", "fim_template": "starcoder"}}}, env)
    assert s.catalog_model(s.models["a"]).filename == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert s.catalog_model(s.models["b"]) is None and s.models["b"].fim_template is None
    assert s.models["c"].fim_template == "starcoder"


def test_routemate_weights_picks_the_default_weights(tmp_path):
    env = {"ROUTEMATE_HOME": str(tmp_path), "ROUTEMATE_WEIGHTS": "smollm2-135m"}
    s = build_settings({"models": {"local": {"backend": "embedded"},
                                   "big": {"backend": "embedded", "weights": "qwen2.5-coder-1.5b"}}}, env)
    assert s.catalog_model(s.models["local"]).name == "smollm2-135m"
    assert s.models["local"].fim_template is None      # SmolLM2 has no FIM training
    assert s.catalog_model(s.models["big"]).name == "qwen2.5-coder-1.5b"
    with pytest.raises(ConfigError, match=r"ROUTEMATE_WEIGHTS = 'tiny' is not in the model catalog"):
        build_settings({}, {**env, "ROUTEMATE_WEIGHTS": "tiny"})


def test_uncommenting_the_ladder_example_gives_a_working_config(env, tmp_path):
    """The [routing.ladder] block, the [models.llama] block it names and the commented frontier line."""
    lines = EXAMPLE_CONFIG.splitlines()
    start = lines.index("# [models.llama]")
    llama = range(start, lines.index("", start))
    ladder = range(lines.index("# [routing.ladder]"), lines.index("# llama = 0.6") + 1)
    wanted = set(llama) | set(ladder) | {next(i for i, line in enumerate(lines) if line.startswith("# frontier ="))}
    text = "\n".join(line[2:] if i in wanted else line for i, line in enumerate(lines))
    s = settings_from(text, env, tmp_path)
    assert s.routing.ladder == {"local": 0.3, "llama": 0.6} and s.routing.frontier == "gpt4o"
    assert s.routing.fallback is True and s.models["llama"].backend == "openai"
