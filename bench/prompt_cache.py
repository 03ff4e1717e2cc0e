"""How the embedded engine's memory grows with distinct prompts, with and without a bound on its prompt cache.

    python bench/prompt_cache.py [--prompts 60] [--words 80] [--prompt-cache-mib 256] [--weights NAME]
                                 [--json]

llama.cpp keeps the KV cache of a prompt whose slot another request takes in host memory, to restore
it if the prompt comes back; its own default lets that cache grow to 8 GiB. routemate bounds it
(``[models.X] prompt_cache_mib``, default 256). This loads the engine with one slot (so every new
prompt takes the slot from the one before), sends ``--prompts`` distinct prompts (one token
answered) and prints the process's resident memory every 10 prompts. ``--prompt-cache-mib 8192`` is
llama.cpp's default. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=60)
    ap.add_argument("--words", type=int, default=80, help="distinct words per prompt")
    ap.add_argument("--prompt-cache-mib", type=int, default=256)
    ap.add_argument("--weights", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from routemate.backends.embedded import _Engine
    from routemate.catalog import CATALOG
    from routemate.config import load_settings
    from routemate.weights import ensure

    path = ensure(CATALOG[args.weights], load_settings().models_dir)
    engine = _Engine(path, 4096, args.threads, 1, args.prompt_cache_mib)
    loaded = rss_mib()
    points, tokens, started = [], 0, time.perf_counter()
    for i in range(1, args.prompts + 1):
        text = f"Request {i}: " + " ".join(f"item{i}x{j}" for j in range(args.words))
        out = engine.server.handle_chat_completions({"messages": [{"role": "user", "content": text}],
                                                     "max_tokens": 1})
        tokens += out["usage"]["prompt_tokens"]
        if i % 10 == 0 or i == args.prompts:
            points.append({"prompts": i, "rss_mib": round(rss_mib()), "grown_mib": round(rss_mib() - loaded)})
            if not args.json:
                print(f"{i} prompts ({tokens // i} tokens each): {points[-1]['rss_mib']} MiB, "
                      f"+{points[-1]['grown_mib']} MiB since loading, {time.perf_counter() - started:.0f} s")
    print(json.dumps({"weights": args.weights, "prompt_cache_mib": args.prompt_cache_mib,
                      "tokens_per_prompt": tokens // args.prompts, "loaded_mib": round(loaded),
                      "points": points}))


if __name__ == "__main__":
    main()
