"""`python -m bot web | worker | demo | history | replay`. Settings are built once, here."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import timedelta

from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure


def _run_web(settings: Settings) -> None:
    from bot.web.app import create_app
    from bot.web.serve import serve

    app = create_app(settings)
    # On SIGTERM: stop accepting, answer every request in flight (bodies mid-upload too), exit.
    asyncio.run(serve(app, host=settings.HOST, port=settings.PORT))


def _run_worker(settings: Settings) -> None:
    from bot.worker.supervise import run_worker_forever

    settings.check_worker()
    asyncio.run(run_worker_forever(settings))


def _history(settings: Settings, count: int, dead: bool) -> None:
    from bot.cli import print_history

    asyncio.run(print_history(settings, count=count, dead_only=dead))


def _replay(settings: Settings, delivery_id: str) -> int:
    from bot.cli import replay

    return asyncio.run(replay(settings, delivery_id))


def _costs(settings: Settings, since: str) -> int:
    from redis.exceptions import RedisError

    from bot.cli import print_costs

    try:
        window = _cost_window(since)
    except argparse.ArgumentTypeError as exc:
        print(f"hookwise: costs --since: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(print_costs(settings, since=window, label=since))
    except (RedisError, OSError) as exc:
        print(f"hookwise: cannot read the cost ledger from REDIS_URL: {exc}", file=sys.stderr)
        return 1


def _since(text: str) -> timedelta:
    from bot.core.redelivery import parse_since

    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _cost_window(text: str) -> timedelta:
    from bot.core.costs import MAX_SINCE_S
    from bot.core.redelivery import parse_duration

    try:
        return min(parse_duration(text), timedelta(seconds=MAX_SINCE_S))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="hookwise, a GitHub App")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("web", help="the webhook server")
    commands.add_parser("worker", help="the arq worker that runs the AI jobs")
    commands.add_parser("demo", help="run everything against a local sandbox GitHub and Anthropic")
    history = commands.add_parser("history", help="recent job records (provenance)")
    history.add_argument("-n", "--count", type=int, default=20)
    history.add_argument("--dead", action="store_true", help="only failed jobs (dead letters)")
    replay = commands.add_parser("replay", help="re-run a recorded delivery")
    replay.add_argument("delivery_id")
    redeliver = commands.add_parser(
        "redeliver", help="ask GitHub to redeliver deliveries that failed and that hookwise never accepted"
    )
    redeliver.add_argument("--since", type=_since, default=None, help="how far back, e.g. 2h, 90m, 3d (at most 3d)")
    redeliver.add_argument("--cap", type=int, default=50, help="at most this many redeliveries")
    costs = commands.add_parser(
        "costs", help="model calls, tokens and estimated US dollars per installation, repository and task"
    )
    costs.add_argument("--since", default="1d", help="how far back, e.g. 2h, 1d, 7d (at most 31d); default 1d")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from bot.sandbox.demo import run_demo

        return run_demo()
    try:
        settings = load_settings()
        configure(settings.LOG_LEVEL.value)
        if args.command == "web":
            _run_web(settings)
        elif args.command == "worker":
            _run_worker(settings)
        elif args.command == "history":
            _history(settings, args.count, args.dead)
        elif args.command == "replay":
            return _replay(settings, args.delivery_id)
        elif args.command == "redeliver":
            from bot.cli import redeliver as run_redeliver

            return asyncio.run(run_redeliver(settings, since=args.since, cap=args.cap))
        elif args.command == "costs":
            return _costs(settings, args.since)
    except ConfigError as exc:
        print(f"hookwise: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
