"""The one settings object: a TOML file plus a few environment variables, read once.

Where things live:
- ``<home>`` is ``$ROUTEMATE_HOME``, else the platform's user data dir (``~/.local/share/routemate``);
- the config file is ``$ROUTEMATE_CONFIG``, else ``<home>/config.toml`` (optional);
- with no ``[models]`` table, ``local`` is the embedded engine and ``gpt-4o`` exists only when
  ``OPENAI_API_KEY`` is set (``OPENAI_BASE_URL`` honoured).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, InvalidRequest

if TYPE_CHECKING:
    from .catalog import CatalogModel

Tier = Literal["local", "frontier"]
Capability = Literal["chat", "tools", "completions", "fim", "json", "vision", "embeddings"]
FimTemplate = Literal["starcoder", "codellama", "deepseek", "qwen", "codegemma"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# List prices of gpt-4o, USD per 1M tokens: the "what it would have cost" baseline when no
# frontier model is configured, so savings stay meaningful on a machine without a key.
REFERENCE_FRONTIER = ("gpt-4o", 2.50, 10.00)

TUTOR_PROMPT = (
    "You are a patient programming tutor for learners. Explain step by step, in plain words, "
    "why each step is needed before showing code. Keep examples small, name the concept being "
    "used, and end with one short exercise the learner can try."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """One model routemate can send requests to. ``name`` is the table key in ``[models.NAME]``."""

    name: str = ""
    backend: Literal["embedded", "openai"]
    tier: Tier = "local"
    model: str | None = None          # upstream model id; defaults to the name
    base_url: str | None = None       # openai backend: any OpenAI-compatible /v1 root
    api_key_env: str | None = None    # env var holding the upstream key (never the key itself)
    price_in: float = Field(0.0, ge=0)   # USD per 1M input tokens
    price_out: float = Field(0.0, ge=0)  # USD per 1M output tokens
    context_window: int | None = Field(None, gt=0)
    capabilities: list[Capability] | None = None
    languages: list[str] | None = None   # ISO 639-1 codes it answers well in; None = any
    private: bool | None = None          # keeps data on infrastructure you control (default: tier local)
    system_prompt: str | None = None
    # default generation parameters (temperature, top_p, max_tokens, ...) for requests that set none
    params: dict[str, Any] = {}
    timeout: float = Field(120.0, gt=0)        # seconds for a whole request
    connect_timeout: float = Field(5.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    fim_template: FimTemplate | None = None
    # openai backend: the server continues a trailing assistant message instead of answering it anew
    # (llama.cpp's server). A code request's later samples then go on from the stub the first answer
    # copied ([verify] continue_stub). The embedded engine always does; OpenAI and vLLM do not.
    continues_assistant: bool = False
    # embedded backend: `weights` names a catalog model (routemate models --catalog), `path` any GGUF file;
    # neither: $ROUTEMATE_WEIGHTS, else the catalog's default (qwen2.5-coder-0.5b)
    weights: str | None = None
    path: str | None = None
    n_ctx: int = Field(4096, ge=256)
    threads: int | None = Field(None, ge=1)   # default: the physical cores this process may use, minus one
    parallel: int = Field(4, ge=1, le=64)     # slots: requests served at once, and samples (n) decoded in one batch
    # host memory for the KV cache of prompts whose slot was taken by another request, to restore them
    # when they come back (llama.cpp's prompt cache, which would otherwise grow up to 8 GiB); 0: none
    prompt_cache_mib: int = Field(256, ge=0)

    @model_validator(mode="after")
    def _backend_fields(self) -> "ModelConfig":
        if self.backend == "openai" and not self.base_url:
            raise ValueError("an openai backend needs base_url (e.g. https://api.openai.com/v1 or "
                             "http://localhost:11434/v1 for Ollama)")
        if self.backend == "embedded" and self.base_url:
            raise ValueError("base_url is for backend = \"openai\"; the embedded engine runs in-process")
        if self.backend != "embedded" and (self.weights or self.path):
            raise ValueError("weights and path are for backend = \"embedded\"")
        if self.weights and self.path:
            raise ValueError("set weights (a catalog model) or path (a GGUF file), not both")
        if self.weights:
            from .catalog import CATALOG

            if self.weights not in CATALOG:
                raise ValueError(f"weights = {self.weights!r} is not in the model catalog; choose one of "
                                 f"{', '.join(CATALOG)} (routemate models --catalog), or give path to a GGUF file")
        return self

    @property
    def upstream_model(self) -> str:
        return self.model or self.name

    @property
    def is_private(self) -> bool:
        return self.tier == "local" if self.private is None else self.private

    @property
    def caps(self) -> frozenset[str]:
        if self.capabilities is not None:
            if set(self.capabilities) == {"embeddings"}:   # an embedding model only: never routed a chat
                return frozenset({"embeddings"})
            return frozenset(self.capabilities) | {"chat"}
        if self.backend == "embedded":
            return frozenset({"chat", "completions"})
        return frozenset({"chat", "tools", "completions", "json"})

    def api_key(self, env: Mapping[str, str]) -> str | None:
        return env.get(self.api_key_env) if self.api_key_env else None


class Persona(_Strict):
    system_prompt: str
    description: str = ""


class RoutingConfig(_Strict):
    router: str = "learned"
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    frontier: str | None = None   # default frontier model: escalation target and savings baseline
    local: str | None = None      # default local model
    fallback: bool = True         # answer from the next model when the chosen one is unavailable
    model: str | None = None      # learned router artifact (`routemate train --out`); default: the shipped one
    # a budget instead of a raw threshold, set from the router's training distribution (at most one)
    frontier_share: float | None = Field(None, ge=0.0, le=1.0)
    target_quality: float | None = Field(None, gt=0.0, le=1.0)
    # more than two models: {model: ceiling}; the cheapest model whose ceiling is above the score answers,
    # the frontier takes the rest
    ladder: dict[str, float] = {}

    @model_validator(mode="after")
    def _one_budget(self) -> "RoutingConfig":
        if self.frontier_share is not None and self.target_quality is not None:
            raise ValueError("set frontier_share or target_quality, not both")
        for name, ceiling in self.ladder.items():
            if not 0.0 <= ceiling <= 1.0:
                raise ValueError(f"ladder ceiling for {name!r} must be between 0 and 1, got {ceiling}")
        return self


class LogConfig(_Strict):
    prompts: Literal["text", "hash"] = "text"
    path: str | None = None       # default <home>/log.db
    url: str | None = None        # postgresql://user:pass@host/db: one log shared by several replicas

    @field_validator("url")
    @classmethod
    def _postgres(cls, url: str | None) -> str | None:
        return check_log_url(url) if url else None


def check_log_url(url: str) -> str:
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"must be a postgresql:// URL, got {url.split('://')[0]}:// "
                         "(leave it unset for the SQLite log at log.path)")
    return url


class LearningConfig(_Strict):
    """``[learning]``: the learned router improves from labels of your own traffic (checks, feedback)."""

    enabled: bool = True
    retrain_every: int = Field(50, ge=5)        # new labels of local answers between two proposals
    holdout: float = Field(0.2, gt=0.0, lt=0.5)  # share of the most recent labels a candidate is judged on
    max_labels: int = Field(5000, ge=20)        # the most recent labels a version learns from


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    api_keys: list[str] = []
    max_body_mb: float = Field(8.0, gt=0)
    autocomplete: str = "local"       # what model "auto" means on /v1/completions: a tier, a model, or auto
    circuit_failures: int = Field(5, ge=1)          # consecutive failures that open a model's circuit
    circuit_cooldown: float = Field(30.0, gt=0)     # seconds before an open circuit lets a probe through
    # the browser guard (docs/gateway.md): Host names this server answers to beside its address and
    # localhost ("*.corp.example" for a domain, "*" for any); web apps that may call it from a browser
    allowed_hosts: list[str] = []
    cors_origins: list[str] = []


class KeyConfig(_Strict):
    """``[keys.NAME]``: a gateway key for a person, team or agent, with an optional budget and limits.
    Enforced across replicas through the shared log (``[log] url``)."""

    name: str = ""
    key: str | None = Field(None, min_length=8, repr=False)   # the key itself, or...
    key_env: str | None = None        # ...the environment variable holding it (keeps it out of the file)
    budget_usd: float | None = Field(None, ge=0)   # spend allowed per period; over it: 429 insufficient_quota
    period: Literal["day", "month", "total"] = "month"    # calendar periods in UTC
    rpm: int | None = Field(None, ge=1)             # requests per minute; over it: 429 with retry-after
    models: list[str] | None = None   # models (or tiers) this key may use; auto routes among them only

    @model_validator(mode="after")
    def _one_key(self) -> "KeyConfig":
        if (self.key is None) == (self.key_env is None):
            raise ValueError("set exactly one of key or key_env")
        if self.models is not None and not self.models:
            raise ValueError("models must name at least one model (leave it out to allow all)")
        return self

    def secret(self, env: Mapping[str, str]) -> str | None:
        return self.key if self.key is not None else env.get(self.key_env or "") or None


class VerifyConfig(_Strict):
    """``[verify]``: check code answers by running them; escalate only the ones that fail."""

    enabled: bool = True              # for code-writing requests; `ask --no-verify` turns it off per request
    max_escalations: int = Field(1, ge=0, le=5)
    timeout: float = Field(10.0, gt=0)        # seconds for all checks of one answer
    memory_mb: int = Field(512, ge=64)
    language: str | None = "python"   # expected when the request names no language
    unverified: Literal["accept", "escalate"] = "accept"   # when nothing could be run against the code
    skip_above: float = Field(0.85, ge=0.0, le=1.0)        # router score from which the cheap try is skipped
    own_examples: bool = True         # also run the answer's own asserts and claimed outputs
    # code from gateway clients runs only when every sandbox layer is in place; true accepts what
    # the kernel offers (docs/verify.md lists the layers and what each one guarantees)
    allow_weak_sandbox: bool = False
    samples: int = Field(4, ge=1, le=16)      # local answers drawn in one batched call, run and compared
    # the first answer alone (greedy) when your tests or two of the request's examples pass on it and its
    # confidence clears the threshold; the other samples only when it does not (docs/verify.md,
    # "Stopping at the first sample": as right as the pick among 4 on MBPP, 30% fewer samples drawn)
    early: bool = True
    # the samples drawn after a first answer start at its code block, from what it copied of the
    # request's stub (fence, imports, signature, docstring) or its opening fence, and stop where the
    # block ends, instead of writing the stub and the prose around the code again, on backends that
    # continue an assistant message (the embedded engine): the same samples for a fraction of the time
    continue_stub: bool = True
    # the first answer is checked as soon as its code block closes; once an answer is chosen, the prose
    # after its code is written and streams after the decision (backends that continue an assistant
    # message). The prose of an answer that is not kept is never written
    code_first: bool = True
    # with continue_stub: when the request gives a stub to complete (a signature and docstring, no body),
    # the first answer starts at it too, as if it had copied it: no stub written out again and no prose
    # before the code (the words after the code still follow, with code_first)
    first_from_stub: bool = True
    # with early: when the first answer does not settle a request that could settle, the other samples
    # come one at a time, each checked alone, and the first that settles it is the answer (all are
    # compared only when none does); false: they come in one batched call. Unset: one at a time on
    # the embedded engine (on a CPU a batch of samples costs more than the samples one by one),
    # batched on servers (which batch ``n`` on a GPU)
    one_by_one: bool | None = None
    temperature: float = Field(0.8, ge=0.0, le=2.0)        # sampling temperature when samples > 1
    inputs: int = Field(12, ge=0, le=64)      # generated inputs every sample runs on
    threshold: float = Field(0.5, ge=0.0, le=1.0)          # confidence below which a local answer escalates
    target_quality: float | None = Field(None, gt=0.0, le=1.5)   # or: the threshold that keeps this share
                                                                 # of the frontier's quality (calibrated)
    frontier_share: float | None = Field(None, ge=0.0, le=1.0)   # or: the threshold that escalates this share

    @model_validator(mode="after")
    def _one_budget(self) -> "VerifyConfig":
        if self.target_quality is not None and self.frontier_share is not None:
            raise ValueError("set at most one of verify.target_quality and verify.frontier_share")
        return self


class PrivacyConfig(_Strict):
    """``[privacy]``: what keeps a request on private (local) models and out of the log."""

    enabled: bool = True
    detect_secrets: bool = True       # cloud keys, tokens, private keys, passwords, connection strings
    entropy: bool = True              # long random-looking strings next to key/token/secret words
    patterns: dict[str, str] = {}     # name -> regular expression, e.g. internal hostnames or ticket ids
    hostnames: list[str] = []         # globs: "*.corp.example.com"
    paths: list[str] = []             # globs: "/srv/payroll/*"
    markers: list[str] = []           # words that mark a request private, e.g. "CONFIDENTIAL"
    redact_log: bool = True           # store [REDACTED:kind] instead of the secret in the request log


class Settings(_Strict):
    home: Path
    config_file: Path | None = None
    models: dict[str, ModelConfig]
    personas: dict[str, Persona] = {}
    routing: RoutingConfig = RoutingConfig()
    log: LogConfig = LogConfig()
    server: ServerConfig = ServerConfig()
    verify: VerifyConfig = VerifyConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    keys: dict[str, KeyConfig] = {}
    learning: LearningConfig = LearningConfig()
    env: dict[str, str] = Field(default_factory=dict, repr=False)

    @field_validator("models")
    @classmethod
    def _names(cls, models: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        if not models:
            raise ValueError("no models configured; add at least one [models.NAME] table")
        return {k: m if m.name == k else m.model_copy(update={"name": k}) for k, m in models.items()}

    @field_validator("keys")
    @classmethod
    def _key_names(cls, keys: dict[str, KeyConfig]) -> dict[str, KeyConfig]:
        return {k: v if v.name == k else v.model_copy(update={"name": k}) for k, v in keys.items()}

    @model_validator(mode="after")
    def _references(self) -> "Settings":
        if self.env.get("ROUTEMATE_LOG_URL"):
            try:
                check_log_url(self.env["ROUTEMATE_LOG_URL"])
            except ValueError as exc:
                raise ValueError(f"ROUTEMATE_LOG_URL {exc}") from None
        from .catalog import CATALOG

        if self.env.get("ROUTEMATE_WEIGHTS") and self.env["ROUTEMATE_WEIGHTS"] not in CATALOG:
            raise ValueError(f"ROUTEMATE_WEIGHTS = {self.env['ROUTEMATE_WEIGHTS']!r} is not in the model catalog; "
                             f"choose one of {', '.join(CATALOG)} (routemate models --catalog)")
        for field in ("frontier", "local"):
            ref = getattr(self.routing, field)
            if ref is not None and ref not in self.models:
                raise ValueError(f"routing.{field} = {ref!r} is not one of the configured models "
                                 f"({', '.join(self.models)})")
        for name, key in self.keys.items():
            for ref in key.models or ():
                if ref not in self.models and ref not in ("local", "frontier"):
                    raise ValueError(f"keys.{name}.models names {ref!r}, which is not a configured model or tier "
                                     f"({', '.join(self.models)}, local, frontier)")
        for ref in self.routing.ladder:
            if ref not in self.models:
                raise ValueError(f"routing.ladder names {ref!r}, which is not one of the configured models "
                                 f"({', '.join(self.models)})")
        return self

    @property
    def models_dir(self) -> Path:
        return Path(self.env.get("ROUTEMATE_MODELS_DIR") or self.home / "models")

    def catalog_model(self, model: ModelConfig) -> "CatalogModel | None":
        """The catalog weights an embedded model runs; None when it names a GGUF ``path`` or is not embedded."""
        if model.backend != "embedded" or model.path:
            return None
        from .catalog import CATALOG

        return CATALOG[_weights_name(model.weights, self.env)]

    @property
    def log_url(self) -> str | None:
        """The PostgreSQL log, if one is configured (``ROUTEMATE_LOG_URL`` wins over ``[log] url``)."""
        return self.env.get("ROUTEMATE_LOG_URL") or self.log.url

    @property
    def log_path(self) -> Path:
        return Path(self.log.path).expanduser() if self.log.path else self.home / "log.db"

    def model(self, name: str) -> ModelConfig:
        return self.models[name]

    def by_tier(self, tier: str) -> list[ModelConfig]:
        """Models of a tier, cheapest first (config order breaks ties)."""
        return sorted((m for m in self.models.values() if m.tier == tier),
                      key=lambda m: (m.price_in + m.price_out))

    def default_frontier(self) -> ModelConfig | None:
        if self.routing.frontier:
            return self.models[self.routing.frontier]
        frontier = self.by_tier("frontier")
        return frontier[-1] if frontier else None

    def available(self, model: ModelConfig) -> tuple[bool, str]:
        """Whether a model can be tried at all (not whether its server is up), and why not."""
        if model.backend == "openai" and model.api_key_env and not model.api_key(self.env):
            return False, f"{model.api_key_env} is not set"
        return True, ""

    def persona(self, name: str) -> Persona:
        personas = {**BUILTIN_PERSONAS, **self.personas}
        if name not in personas:
            raise InvalidRequest(f"unknown persona {name!r}", param="persona",
                                 hint=f"choose one of {', '.join(sorted(personas))}, or add [personas.{name}] "
                                      "to the config")
        return personas[name]

    def gateway_keys(self) -> list[str]:
        extra = [k.strip() for k in self.env.get("ROUTEMATE_API_KEYS", "").split(",") if k.strip()]
        return [*self.server.api_keys, *extra]


BUILTIN_PERSONAS = {
    "tutor": Persona(system_prompt=TUTOR_PROMPT, description="explains step by step for learners"),
}


def default_home(env: Mapping[str, str]) -> Path:
    if env.get("ROUTEMATE_HOME"):
        return Path(env["ROUTEMATE_HOME"]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("routemate", appauthor=False))


def config_path(env: Mapping[str, str]) -> Path:
    if env.get("ROUTEMATE_CONFIG"):
        return Path(env["ROUTEMATE_CONFIG"]).expanduser()
    return default_home(env) / "config.toml"


def default_models(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {"local": {"backend": "embedded", "tier": "local", "languages": ["en"]}}
    if env.get("OPENAI_API_KEY"):
        name, price_in, price_out = REFERENCE_FRONTIER
        models[name] = {
            "backend": "openai", "tier": "frontier", "model": name,
            "base_url": env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
            "api_key_env": "OPENAI_API_KEY", "price_in": price_in, "price_out": price_out,
        }
    return models


def _weights_name(weights: str | None, env: Mapping[str, str]) -> str:
    from .catalog import DEFAULT_MODEL

    return weights or env.get("ROUTEMATE_WEIGHTS") or DEFAULT_MODEL


def _catalog_defaults(model: Any, env: Mapping[str, str]) -> Any:
    """An embedded model running catalog weights gets their fill-in-the-middle template unless it sets one."""
    if not isinstance(model, dict) or model.get("backend") != "embedded" or model.get("path") \
            or "fim_template" in model:
        return model
    from .catalog import CATALOG

    entry = CATALOG.get(_weights_name(model.get("weights"), env))
    return {**model, "fim_template": entry.fim_template} if entry and entry.fim_template else model


def load_settings(env: Mapping[str, str] | None = None, *, path: Path | None = None) -> Settings:
    """Build the settings from the config file (if any) and the environment.

    Raises ConfigError naming the file, the field and the fix.
    """
    env = dict(os.environ if env is None else env)
    file = path or config_path(env)
    data: dict[str, Any] = {}
    explicit = path is not None or bool(env.get("ROUTEMATE_CONFIG"))
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML ({exc})", file=str(file),
                              hint="fix the syntax, or run `routemate init --force` for a fresh example") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read it ({exc})", file=str(file)) from None
    elif explicit:
        raise ConfigError("file not found", file=str(file),
                          hint="create it with `routemate init`, or unset ROUTEMATE_CONFIG")
    return build_settings(data, env, file if file.exists() else None)


def build_settings(data: dict[str, Any], env: Mapping[str, str], file: Path | None = None) -> Settings:
    unknown = set(data) - {"models", "personas", "routing", "log", "server", "verify", "privacy", "keys",
                           "learning"}
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(f"unknown section [{name}]", file=str(file) if file else None, field=name,
                          hint="allowed: [models.*], [personas.*], [routing], [log], [server], [verify], "
                               "[privacy], [keys.*], [learning]")
    raw = {**data, "home": default_home(env), "config_file": file, "env": dict(env)}
    raw.setdefault("models", default_models(env))
    if isinstance(raw["models"], dict):
        raw["models"] = {k: _catalog_defaults(m, env) for k, m in raw["models"].items()}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if p not in ("function-after",)) or None
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
            hint = "check the spelling; `routemate init` writes an annotated example"
        elif err["type"] == "literal_error":
            hint = None
        else:
            hint = None
        raise ConfigError(msg, file=str(file) if file else "settings", field=field, hint=hint) from None


EXAMPLE_CONFIG = '''\
# routemate configuration. Every request goes to the cheapest model that will answer it well.
# Prices are USD per 1M tokens; they drive cost and "saved" figures in `routemate stats`.

[models.local]
backend = "embedded"          # llama.cpp in-process
tier = "local"
languages = ["en"]            # natural languages it answers well; others go to a model that does
# weights = "qwen2.5-coder-1.5b"   # a catalog model (routemate models --catalog); default qwen2.5-coder-0.5b
# path = "/models/qwen2.5-coder-7b-instruct-q4_k_m.gguf"   # or any other GGUF file instead
# n_ctx = 4096
# threads = 4
# prompt_cache_mib = 256      # RAM to keep prompts of busy slots for when they come back (0: none)

# A bigger local model served by Ollama (or vLLM, or llama.cpp server): any OpenAI-compatible API.
# [models.llama]
# backend = "openai"
# base_url = "http://localhost:11434/v1"   # vLLM: http://localhost:8000/v1
# model = "llama3.1:8b"
# tier = "local"
# capabilities = ["chat", "tools", "completions"]

# An embedding model for /v1/embeddings (IDE indexing): never a chat candidate, always the same model.
# [models.embed]
# backend = "openai"
# base_url = "http://localhost:11434/v1"
# model = "nomic-embed-text"
# tier = "local"
# capabilities = ["embeddings"]

[models.gpt4o]
backend = "openai"            # any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp server
base_url = "https://api.openai.com/v1"
model = "gpt-4o"              # upstream model id
api_key_env = "OPENAI_API_KEY"   # the variable holding the key; keys never go in this file
tier = "frontier"
price_in = 2.50
price_out = 10.00
# timeout = 120
# max_retries = 2

[routing]
router = "learned"            # learned from real outcomes; "rules" for transparent rules
threshold = 0.5               # P(local answer falls short) at or above which a request goes to the frontier
# frontier_share = 0.3        # or a budget: ~30% of coding requests to the frontier (sets the threshold)
# target_quality = 0.95       # or: the cheapest threshold keeping 95% of the frontier's quality
# model = "~/router.json"     # your own router from `routemate train`
# frontier = "gpt4o"          # savings baseline and escalation target (default: priciest frontier)
fallback = true               # if the chosen model is unavailable, answer from the next one

# Three or more models: the cheapest whose ceiling is above the router's score answers, the frontier takes
# the rest. Uncomment [models.llama] above too; `routemate eval ladder` suggests ceilings from your outcomes.
# [routing.ladder]
# local = 0.3
# llama = 0.6

[personas.tutor]
system_prompt = "Explain step by step for a learner, then give one small exercise."

[verify]
enabled = true                # run code answers before returning them; `ask --no-verify` skips it
max_escalations = 1           # a failing answer goes to the next stronger model at most this often
# language = "python"         # expected when a request names no language
# unverified = "accept"       # or "escalate": when nothing in the request or answer could be run
# skip_above = 0.85           # router score from which the cheap try is skipped
# allow_weak_sandbox = false  # true: run gateway clients' code even when the kernel lacks a sandbox layer
# samples = 4                 # local answers drawn at once, run on the same inputs, the best one picked
# early = true                # stop at the first answer when your tests or two examples pass on it
# continue_stub = true        # later samples start at the first answer's code block and stop at its end
# code_first = true           # check the first answer when its code block closes; its prose follows
# first_from_stub = true      # the first answer starts at the stub the request gives to complete
# one_by_one = true           # later samples one at a time, stopping where they settle it
#                             # (unset: on for the embedded engine, off for servers)
# threshold = 0.5             # confidence below which a local answer escalates
# target_quality = 0.95       # or: a threshold calibrated to keep 95% of the frontier's quality
# frontier_share = 0.4        # or: a threshold calibrated to escalate 40% of code requests

[privacy]
# Secrets (cloud keys, tokens, private keys, passwords, .env content) always keep a request local.
# hostnames = ["*.corp.example.com"]
# paths = ["/srv/payroll/*"]
# markers = ["CONFIDENTIAL", "INTERNAL ONLY"]
# patterns = { ticket = "PAY-[0-9]{4,}" }
redact_log = true             # the request log stores [REDACTED:kind], never the secret

[log]
prompts = "text"              # "hash" stores only a sha256 of each prompt
# url = "postgresql://routemate@db/routemate"   # one log for several replicas (or ROUTEMATE_LOG_URL)

[learning]                    # the router learns from your checked answers and feedback (nothing leaves)
enabled = true
retrain_every = 50            # new labels between two proposed router versions

[server]
host = "127.0.0.1"
port = 8080
# api_keys = ["change-me"]    # or ROUTEMATE_API_KEYS=key1,key2
# max_body_mb = 8             # larger request bodies get 413
# autocomplete = "local"      # what model "auto" means on /v1/completions
# circuit_failures = 5        # consecutive failures that take a model out of rotation...
# circuit_cooldown = 30       # ...for this many seconds, then one probe request
# allowed_hosts = ["routemate.corp.example"]   # Host names besides the bound address and localhost
# cors_origins = ["https://chat.corp.example"]  # web apps that may call the API from a browser

# Keys for people, teams and agents: a budget, a rate limit and the models each may use.
# [keys.ci]
# key_env = "ROUTEMATE_KEY_CI"  # or key = "..." (at least 8 characters)
# budget_usd = 20               # per period; over it: 429 insufficient_quota
# period = "month"              # "day", "month" (UTC calendar) or "total"
# rpm = 60                      # requests per minute; over it: 429 with retry-after
# models = ["local", "gpt4o"]   # auto routes among these only; another model: 403
'''
