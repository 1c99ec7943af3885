"""What the summary's model reads of a pull request, before and after issue 9's diff budget.

    python -m bench.diff_budget [--budget 40000] [--also 8000]

For each kind of pull request (real diffs from tests/fixtures/diffs, real-shaped synthetic ones from
tests/fixtures/diffs/synthetic.py) it prints what the OLD budget sent - `bot/budget.py`'s
`fit_diff` at its 8,000-token budget counted as characters/4, figures measured once on 2026-12-01
and embedded below, since that code is gone - and what `bot.core.summary.diff_budget.fit_diff` sends now,
computed live: files read (whole), share of changed lines read, and tokens.

Tokens: `est` is `bot.core.tokens.estimate_tokens`; `claude` is Claude's published tokenizer
(`tokenizer.json` of the anthropic-bedrock package, read with `tokenizers`), shown when the `[dev]`
extra is installed. The old budget's own count (chars/4) is in `old chars/4`: on key material the
real prompt was 2.8x what it believed.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.summary.diff_budget import DEFAULT_DIFF_BUDGET_TOKENS, BudgetedDiff, PullFile, fit_diff, reason_not_shown
from bot.core.tokens import estimate_tokens
from tests.fixtures.diffs import synthetic as s

CASES: dict[str, Callable[[], list[PullFile]]] = {
    "unvendor, 88 deleted + 12 modified (synthetic)": s.unvendor,
    "unvendor charset_normalizer (pip fb71f4c)": lambda: s.load("pip-unvendor-charset-normalizer.json"),
    "CA bundle, 8,000 lines (synthetic)": s.ca_bundle_update,
    "CA bundle update (certifi e713282)": lambda: s.load("certifi-2022.05.18.json"),
    "test keys regenerated (requests 9ebebde)": lambda: s.load("requests-regenerate-test-certs.json"),
    "formatter run, 30 files x 12 hunks (synthetic)": s.formatter_run,
    "formatter run, black 26 (pip 7917669)": lambda: s.load("pip-black-26.json"),
    "type hints, 26 files, 1,330 lines (synthetic)": s.type_hints,
    "type annotations (pip 72e1ff3)": lambda: s.load("pip-type-annotations-resolution.json"),
    "mid-size feature, 1,500 lines (synthetic)": s.mid_size,
    "mid-size feature (pip 4c2e8ea)": lambda: s.load("pip-resumable-downloads.json"),
    "refactor + build output (clipboard.js 44df750)": lambda: s.load("clipboard-js-actions-refactor.json"),
    "docs rewrite, 16 pages (synthetic)": s.docs_rewrite,
    "docs rewrite (pip d37aa21)": lambda: s.load("pip-docs-build-system.json"),
}

# The old fit_diff (8,000 tokens as chars/4), run once on the same cases: files in the PR, files
# sent, of them whole, deleted files sent (their first lines), noise sent (keys, vendored code),
# changed lines sent, changed lines in the PR, changed lines sent of files worth reading (not
# deleted, not noise: what the new budget reads), changed lines of those, its own token count
# (chars/4), estimate_tokens of the text it sent, Claude's tokenizer on that text.
OLD: dict[str, tuple[int, ...]] = {
    "unvendor, 88 deleted + 12 modified (synthetic)": (100, 80, 0, 68, 0, 871, 19108, 55, 112, 8000, 13007, 11540),
    "unvendor charset_normalizer (pip fb71f4c)": (33, 32, 18, 13, 14, 649, 5223, 48, 155, 7999, 11933, 10128),
    "CA bundle, 8,000 lines (synthetic)": (2, 2, 1, 0, 1, 527, 8002, 2, 2, 8000, 22444, 22172),
    "CA bundle update (certifi e713282)": (2, 2, 1, 0, 1, 492, 628, 2, 2, 8000, 21210, 20504),
    "test keys regenerated (requests 9ebebde)": (12, 12, 5, 0, 12, 458, 551, 0, 0, 7998, 22530, 22164),
    "formatter run, 30 files x 12 hunks (synthetic)": (30, 30, 0, 0, 0, 356, 1440, 356, 1440, 7995, 11452, 9494),
    "formatter run, black 26 (pip 7917669)": (40, 40, 19, 0, 0, 342, 1147, 342, 1147, 8000, 11839, 9778),
    "type hints, 26 files, 1,330 lines (synthetic)": (27, 27, 0, 0, 0, 534, 1330, 534, 1330, 7998, 11528, 9687),
    "type annotations (pip 72e1ff3)": (11, 11, 4, 0, 0, 403, 765, 403, 765, 7998, 10645, 8973),
    "mid-size feature, 1,500 lines (synthetic)": (13, 13, 2, 0, 0, 814, 1500, 814, 1500, 7999, 11124, 9674),
    "mid-size feature (pip 4c2e8ea)": (11, 11, 11, 0, 0, 541, 541, 541, 541, 7433, 10024, 8663),
    "refactor + build output (clipboard.js 44df750)": (22, 20, 20, 2, 0, 1057, 1459, 588, 588, 7816, 10830, 9966),
    "docs rewrite, 16 pages (synthetic)": (17, 17, 1, 0, 0, 796, 2565, 796, 2565, 7997, 10112, 8972),
    "docs rewrite (pip d37aa21)": (9, 9, 9, 0, 0, 685, 685, 685, 685, 7513, 9181, 8048),
}


def _claude() -> Callable[[str], int] | None:
    """Claude's tokenizer when the `[dev]` extra is installed, else None."""
    spec = importlib.util.find_spec("anthropic_bedrock")
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("tokenizers") is None:
        return None
    from tokenizers import Tokenizer  # optional: the [dev] extra

    tokenizer: Any = Tokenizer.from_file(str(Path(next(iter(spec.submodule_search_locations))) / "tokenizer.json"))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def _share(lines: int, total: int) -> str:
    if total == 0:
        return "-"
    return "100%" if lines >= total else f"{lines * 100 // total}%"


def _new(result: BudgetedDiff, readable: int, count: Callable[[str], int] | None) -> str:
    whole = sum(f.whole for f in result.shown)
    real = f"{count(result.text):>7,}" if count else "    n/a"
    lines = f"{_share(result.lines_shown, result.lines_total):>5} {_share(result.lines_shown, readable):>5}"
    return f"{len(result.shown):>3} ({whole:>3}) {lines} {result.tokens:>7,} {real}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=DEFAULT_DIFF_BUDGET_TOKENS, help="the new budget (tokens)")
    parser.add_argument("--also", type=int, default=8_000, help="the new code at another budget too (0: not)")
    parser.add_argument("--coverage", action="store_true", help="print the new coverage line of each case")
    args = parser.parse_args()
    count = _claude()
    if count is None:
        print("(Claude's tokenizer is not installed: pip install -e '.[dev]' for the `claude` columns)\n")
    side = f"sent (whole) {'lines':>5} {'read':>5} {'est':>7} {'claude':>7}"
    head = f"{'pull request':48} {'files':>5} {'lines':>6} | OLD 8k: {side} {'chars/4':>7} {'del':>3} {'noise':>5}"
    head += f" | NEW {args.budget // 1000}k: {side}"
    if args.also:
        head += f" | NEW {args.also // 1000}k: {side}"
    print(head)
    print("-" * len(head))
    elapsed = 0.0
    coverage: list[str] = []
    for name, build in CASES.items():
        files = build()
        n, sent, whole, deleted, noise, lines, total, read, readable, chars4, est, claude = OLD[name]
        assert (n, total) == (len(files), sum(f.changed_lines for f in files)), f"the case {name!r} moved"
        assert readable == sum(f.changed_lines for f in files if reason_not_shown(f) is None), name
        start = time.perf_counter()
        result = fit_diff(files, args.budget)
        elapsed += time.perf_counter() - start
        old = f"{sent:>4} ({whole:>3}) {_share(lines, total):>5} {_share(read, readable):>5} {est:>7,} {claude:>7,}"
        row = f"{name:48} {n:>5} {total:>6,} | {old:>44} {chars4:>7,} {deleted:>3} {noise:>5}"
        row += f" | {_new(result, readable, count):>44}"
        if args.also:
            row += f" | {_new(fit_diff(files, args.also), readable, count):>43}"
        print(row)
        coverage.append(f"{name}: {result.coverage()}")
    print(
        "\nlines: share of the PR's changed lines sent; read: share of the changed lines of files worth reading"
        " (not deleted, not noise) sent; est: estimate_tokens of the text sent; claude: Claude's tokenizer on it;"
        " chars/4: what the old budget believed it sent; del / noise: deleted and noise files the old one sent."
    )
    print(f"new fit_diff: {elapsed * 1000:.0f} ms for the {len(CASES)} cases at {args.budget:,} tokens")
    if args.coverage:
        print("\n" + "\n".join(coverage))
    blob = "".join(f.patch or "" for f in s.ca_bundle_update()) * 3
    start = time.perf_counter()
    estimate_tokens(blob)
    print(f"estimate_tokens: {(time.perf_counter() - start) * 1000:.0f} ms for {len(blob) / 1e6:.1f} MB of PEM")


if __name__ == "__main__":
    main()
