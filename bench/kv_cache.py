"""How much memory the embedded engine's KV cache takes, per catalog model, from the GGUF headers.

    python bench/kv_cache.py [--n-ctx 4096] [--parallel 4] [--json] [--engine]

The engine holds ``n_ctx`` tokens of context per slot and ``parallel`` slots (it asks llama.cpp for
``n_ctx * parallel`` tokens in all). Each token keeps a key and a value vector per layer for every KV
head, in f16 (llama.cpp's default cache type):

    bytes per token = layers * kv_heads * (key_length + value_length) * 2

The sizes come from each GGUF file's own metadata (``<arch>.block_count``,
``<arch>.attention.head_count_kv``, ``<arch>.attention.key_length`` / ``value_length``, else
``embedding_length / head_count``), read by the small reader below; models not on disk are left out.
``--engine`` also loads each model in llama.cpp at that size and prints the engine's own
``llama_kv_cache`` log line, to check the arithmetic. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

# GGUF value types: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, fh.read(size))[0]


def _value(fh: BinaryIO, kind: int) -> Any:
    if kind in SCALARS:
        return _read(fh, SCALARS[kind])
    if kind == STRING:
        return fh.read(_read(fh, "<Q")).decode("utf-8", errors="replace")
    if kind == ARRAY:
        item, n = _read(fh, "<I"), _read(fh, "<Q")
        if item in SCALARS:             # skip large arrays (the vocabulary) without decoding them
            fh.seek(struct.calcsize(SCALARS[item]) * n, os.SEEK_CUR)
            return None
        for _ in range(n):
            _value(fh, item)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")


def metadata(path: Path) -> dict[str, Any]:
    """The key/value metadata of a GGUF file (arrays left out)."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version, _tensors, count = _read(fh, "<I"), _read(fh, "<Q"), _read(fh, "<Q")
        if version < 2:
            raise ValueError(f"{path}: GGUF version {version} is not supported")
        out: dict[str, Any] = {}
        for _ in range(count):
            key = fh.read(_read(fh, "<Q")).decode("utf-8")
            out[key] = _value(fh, _read(fh, "<I"))
        return out


def kv_shape(meta: dict[str, Any]) -> dict[str, int]:
    arch = meta["general.architecture"]
    heads = meta[f"{arch}.attention.head_count"]
    head_dim = meta[f"{arch}.embedding_length"] // heads
    return {"layers": meta[f"{arch}.block_count"], "heads": heads,
            "kv_heads": meta.get(f"{arch}.attention.head_count_kv", heads),
            "key_length": meta.get(f"{arch}.attention.key_length", head_dim),
            "value_length": meta.get(f"{arch}.attention.value_length", head_dim)}


def engine_line(path: Path, n_ctx: int, parallel: int) -> str:
    """Load the model in llama.cpp (xllamacpp) in a child process and return its KV cache log line."""
    code = ("import sys, xllamacpp\np = xllamacpp.CommonParams()\np.model.path = sys.argv[1]\n"
            "p.n_parallel = int(sys.argv[3])\np.n_ctx = int(sys.argv[2]) * p.n_parallel\n"
            "p.cpuparams.n_threads = 1\np.warmup = False\np.n_threads_http = 1\np.verbosity = 10\n"
            "if hasattr(p, 'fit_params'):\n    p.fit_params = False\n"   # as the embedded backend loads it
            "p.api_keys = ['x' * 32]\nserver = xllamacpp.Server(p)\n"
            # the engine's threads would keep the process alive
            "import os\nsys.stdout.flush()\nsys.stderr.flush()\nos._exit(0)\n")
    r = subprocess.run([sys.executable, "-c", code, str(path), str(n_ctx), str(parallel)],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in (r.stdout + r.stderr).splitlines() if "llama_kv_cache: size =" in line]
    if not lines:
        return f"(no KV cache line; exit {r.returncode})"
    return lines[-1].split("llama_kv_cache: ")[-1].strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-ctx", type=int, default=None, help="tokens per slot (default: the config's default)")
    ap.add_argument("--parallel", type=int, default=None, help="slots (default: the config's default)")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--engine", action="store_true",
                    help="also load each model and print llama.cpp's KV line")
    args = ap.parse_args()

    from routemate.catalog import CATALOG
    from routemate.config import ModelConfig, load_settings

    defaults = ModelConfig(backend="embedded", tier="local")
    n_ctx = args.n_ctx or defaults.n_ctx
    parallel = args.parallel or defaults.parallel
    models_dir = load_settings().models_dir
    rows = []
    for name, model in CATALOG.items():
        path = models_dir / model.filename
        if not path.exists():
            continue
        shape = kv_shape(metadata(path))
        per_token = shape["layers"] * shape["kv_heads"] * (shape["key_length"] + shape["value_length"]) * 2
        row = {"model": name, **shape, "bytes_per_token": per_token,
               "mib_per_1k_tokens": round(per_token * 1000 / 2**20, 2),
               "mib_per_slot": round(per_token * n_ctx / 2**20, 1),
               "mib_total": round(per_token * n_ctx * parallel / 2**20, 1)}
        if args.engine:
            row["engine"] = engine_line(path, n_ctx, parallel)
        rows.append(row)
    if not args.json:
        print(f"f16 KV cache, n_ctx = {n_ctx} per slot, parallel = {parallel} ({models_dir})")
        print(f"{'model':<20} {'layers':>6} {'kv heads':>8} {'head dim':>8} {'per 1k tokens':>14} "
              f"{'per slot':>10} {'all slots':>10}")
        for r in rows:
            print(f"{r['model']:<20} {r['layers']:>6} {r['kv_heads']:>8} {r['key_length']:>8} "
                  f"{r['mib_per_1k_tokens']:>10.2f} MiB {r['mib_per_slot']:>6.1f} MiB "
                  f"{r['mib_total']:>6.1f} MiB")
            if "engine" in r:
                print(f"    llama.cpp: {r['engine']}")
    print(json.dumps({"n_ctx": n_ctx, "parallel": parallel, "models": rows}))


if __name__ == "__main__":
    main()
