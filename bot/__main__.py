"""`python -m bot web | worker | demo | history | replay | redeliver | accuracy | setup | receive | healthcheck
| forget`.

Settings are built once, here."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from bot.adapters.store.errors import REDIS_DOWN
from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure


def _run_web(settings: Settings) -> None:
    from bot.web.app import create_app
    from bot.web.serve import run_loop, serve

    app = create_app(settings)
    # On SIGTERM: stop accepting, answer every request in flight (bodies mid-upload too), exit.
    run_loop(serve(app, host=settings.HOST, port=settings.PORT))


def _run_worker(settings: Settings) -> None:
    from bot.worker.supervise import run_worker_forever

    settings.check_worker()
    settings.check_model()
    asyncio.run(run_worker_forever(settings))


def _history(settings: Settings, count: int, dead: bool) -> None:
    from bot.cli import print_history

    asyncio.run(print_history(settings, count=count, dead_only=dead))


def _replay(settings: Settings, delivery_id: str) -> int:
    from bot.cli import replay

    return asyncio.run(replay(settings, delivery_id))


def _costs(settings: Settings, since: str) -> int:

    from bot.cli import print_costs

    try:
        window = _cost_window(since)
    except argparse.ArgumentTypeError as exc:
        print(f"hookwise: costs --since: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(print_costs(settings, since=window, label=since))
    except REDIS_DOWN as exc:
        print(f"hookwise: cannot read the cost ledger from REDIS_URL: {exc}", file=sys.stderr)
        return 1


def _since(text: str) -> timedelta:
    from bot.core.ingress.redelivery import parse_since

    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _cost_window(text: str) -> timedelta:
    from bot.core.costs.ledger import MAX_SINCE_S
    from bot.core.durations import parse_duration

    try:
        return parse_duration(text, most=timedelta(seconds=MAX_SINCE_S))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def _accuracy(settings: Settings, repository: str | None, since: str) -> int:
    """`accuracy [OWNER/REPO] [--since 30d]`; a bad argument is one line, like `costs`."""
    from bot.cli import print_accuracy
    from bot.core.durations import parse_duration

    try:
        period = parse_duration(since, most=timedelta(days=90))
    except ValueError as exc:
        print(f"hookwise: accuracy --since: {exc}", file=sys.stderr)
        return 2
    if repository is not None and not REPOSITORY.fullmatch(repository):
        print(f"hookwise: accuracy: {repository!r} is not OWNER/REPO (e.g. octo-org/octo-repo)", file=sys.stderr)
        return 2
    return asyncio.run(print_accuracy(settings, repository=repository, since=period))


def _confirmer(yes: bool) -> Callable[[str], bool]:
    """How `setup` asks before replacing a value in .env: `--yes` replaces; on a terminal it asks
    [y/N]; otherwise (stdin not a terminal) it answers no, and says so."""

    def ask(question: str) -> bool:
        if yes:
            print(f"{question} yes (--yes)", flush=True)
            return True
        if not sys.stdin.isatty():
            print(f"{question} no (stdin is not a terminal; pass --yes to replace)", flush=True)
            return False
        try:
            return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
        except EOFError:
            return False

    return ask


def _setup(settings: Settings, args: argparse.Namespace) -> int:
    from bot.setup_flow import run_setup

    try:
        return asyncio.run(
            run_setup(
                manifest_path=args.manifest,
                env_path=args.env_file,
                github_url=settings.GITHUB_URL,
                api_url=settings.GITHUB_API_URL,
                confirm=_confirmer(args.yes),
                out=sys.stdout,
                err=sys.stderr,
                host=args.host,
                port=args.port,
                webhook_url=args.webhook_url,
                org=args.org,
                webhook_path=settings.WEBHOOK_PATH,
            )
        )
    except KeyboardInterrupt:
        print("setup: interrupted; nothing more was done", file=sys.stderr)
        return 130


def _receive(args: argparse.Namespace) -> int:
    from bot.receive import Ignored, ReceiveError, UsageError, check_credentials, read_delivery, run

    env = load_settings(REDIS_URL=args.redis) if args.redis else load_settings()
    configure(env.LOG_LEVEL.value, env.LOG_FORMAT)
    try:
        if args.sandbox:
            from bot.sandbox.receive_world import SandboxOptions, receive_in_sandbox

            options = SandboxOptions(
                dry_run=args.dry_run, delivery_id=args.delivery, redis_url=args.redis, config=args.config,
                comment=args.comment,
            )  # fmt: skip
            return asyncio.run(receive_in_sandbox(args.event, args.payload, options, out=sys.stdout))
        if args.config is not None or args.comment is not None:
            raise UsageError("--config and --comment change the sandbox's repository: add --sandbox")
        decided = read_delivery(args.event, args.payload, args.delivery)
        if isinstance(decided, Ignored):
            print(decided.line)
            return 0
        settings = env.model_copy(update={"DRY_RUN": True}) if args.dry_run else env
        check_credentials(settings, model_given=False)
        return asyncio.run(run(settings, decided, out=sys.stdout))
    except UsageError as exc:
        print(f"hookwise: receive: {exc}", file=sys.stderr)
        return 2
    except ReceiveError as exc:
        print(f"hookwise: receive: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hookwise: receive: interrupted", file=sys.stderr)
        return 130


def _forget(settings: Settings, repository: str | None, installation: int | None) -> int:
    from bot.cli import forget

    if (repository is None) == (installation is None):
        print("hookwise: forget: give OWNER/REPO or --installation ID (one of them)", file=sys.stderr)
        return 2
    if repository is not None and not REPOSITORY.fullmatch(repository := repository.strip()):
        print(f"hookwise: forget: expected OWNER/REPO, got {repository!r}", file=sys.stderr)
        return 2
    return asyncio.run(forget(settings, repository=repository, installation=installation))


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r} (0 to 65535; 0 = any free port)")
    return port


def _add_setup(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    setup = commands.add_parser(
        "setup",
        help="register the GitHub App from app.yml (GitHub's manifest flow) and write .env",
        description="Serve a local page whose button registers the App on GitHub from the manifest; GitHub sends "
        "you back with a code, exchanged for the App's id, key and webhook secret, written to .env (mode 0600).",
    )
    setup.add_argument("--manifest", type=Path, default=Path("app.yml"), help="the App manifest (default: app.yml)")
    setup.add_argument("--env-file", type=Path, default=Path(".env"), help="where to write (default: .env)")
    setup.add_argument("--org", default=None, help="register on this organization instead of your account")
    setup.add_argument(
        "--webhook-url",
        default=None,
        help="where GitHub sends deliveries: your web process's public URL + WEBHOOK_PATH "
        "(default: app.yml's hook_attributes.url, a placeholder)",
    )
    setup.add_argument("--host", default="127.0.0.1", help="where the local page listens (default: 127.0.0.1)")
    setup.add_argument("--port", type=_port, default=3000, help="its port (default: 3000; 0 = any free port)")
    setup.add_argument("--yes", action="store_true", help="replace values already in the .env file without asking")


def _add_receive(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    receive = commands.add_parser(
        "receive",
        help="run one webhook payload file through the bot, in this process",
        description="Decide and handle one delivery as the web and worker would, and print what was done. "
        "Exit 0: done, skipped or ignored; 1: bad payload file (or another event's), Redis down, or the job "
        "failed; 2: an unknown event name or a missing setting.",
    )
    receive.add_argument("event", help="the X-GitHub-Event, e.g. pull_request, issues, issue_comment")
    receive.add_argument("payload", type=Path, help="the delivery's JSON body, as a file")
    receive.add_argument("--dry-run", action="store_true", help="write nothing to GitHub; print what would be written")
    receive.add_argument(
        "--sandbox",
        action="store_true",
        help="against a local sandbox GitHub and Anthropic seeded from the payload, and a throwaway Redis",
    )
    receive.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="use this Redis (default: REDIS_URL; with --sandbox, a throwaway one)",
    )
    receive.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        default=None,
        help="with --sandbox: the repository's .github/hookwise.yml",
    )
    receive.add_argument(
        "--comment", metavar="TEXT", default=None, help="with --sandbox: the comment's body, e.g. '@hookwise help'"
    )
    receive.add_argument("--delivery", default=None, help="the delivery id (a GUID; default: a new one)")


def build_parser() -> argparse.ArgumentParser:
    """Every command and its arguments (the README lists each command: tests/test_docs.py)."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="hookwise, a GitHub App")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("web", help="the webhook server")
    commands.add_parser("worker", help="the arq worker that runs the AI jobs")
    demo = commands.add_parser("demo", help="run everything against a local sandbox GitHub and Anthropic")
    demo.add_argument(
        "--provider",
        choices=("anthropic", "bedrock", "vertex", "compatible"),
        default="anthropic",
        help="the model through a sandbox of this provider's wire format (MODEL_PROVIDER; default anthropic)",
    )
    demo.add_argument("--redis", metavar="URL", default=None, help="use this Redis (default: a throwaway one)")
    commands.add_parser(
        "healthcheck", help="exit 0 when the web or worker running here is healthy (a container's HEALTHCHECK)"
    )
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
    accuracy = commands.add_parser("accuracy", help="triage agreement with maintainers: exact match, precision, recall")
    accuracy.add_argument("repository", nargs="?", metavar="OWNER/REPO", help="one repository (default: all)")
    accuracy.add_argument("--since", default="30d", help="how far back, e.g. 7d (default 30d, at most 90d)")
    _add_setup(commands)
    _add_receive(commands)
    forget = commands.add_parser(
        "forget",
        help="delete what hookwise keeps that names a repository, or every repository of an installation",
        description="What uninstalling the App does, on demand: delete every record, draft, cache and queued job "
        "that holds the repository's text or name; the cost ledger keeps its numbers, without the name.",
    )
    forget.add_argument("repository", nargs="?", metavar="OWNER/REPO", help="one repository")
    forget.add_argument("--installation", type=int, default=None, metavar="ID", help="every repository of it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    if args.command == "demo":
        from bot.sandbox.demo import run_demo

        return run_demo(args.provider, args.redis)
    try:
        if args.command == "receive":
            return _receive(args)
        settings = load_settings()
        configure(settings.LOG_LEVEL.value, settings.LOG_FORMAT)
        if args.command == "web":
            _run_web(settings)
        elif args.command == "worker":
            _run_worker(settings)
        elif args.command == "history":
            _history(settings, args.count, args.dead)
        elif args.command == "replay":
            return _replay(settings, args.delivery_id)
        elif args.command == "accuracy":
            return _accuracy(settings, args.repository, args.since)
        elif args.command == "redeliver":
            from bot.cli import redeliver as run_redeliver

            return asyncio.run(run_redeliver(settings, since=args.since, cap=args.cap))
        elif args.command == "costs":
            return _costs(settings, args.since)
        elif args.command == "forget":
            return _forget(settings, args.repository, args.installation)
        elif args.command == "setup":
            return _setup(settings, args)
        elif args.command == "healthcheck":
            from bot.healthcheck import run_healthcheck

            return run_healthcheck(settings)
    except ConfigError as exc:
        print(f"hookwise: configuration error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # whoever read our output stopped reading (`history | head -1`): see _reader_gone
    except REDIS_DOWN as exc:  # an operator command whose Redis did not answer
        if args.command in ("web", "worker"):
            raise  # the processes ride out Redis outages themselves; anything else here is not Redis
        print(f"hookwise: {args.command}: Redis at REDIS_URL did not answer: {exc}", file=sys.stderr)
        return 1
    return 0


def _reader_gone() -> NoReturn:
    """The program reading our output has stopped (`python -m bot history | head -1`): end quietly,
    the way `cat` or `seq` do, by SIGPIPE (a shell reports 141), with no traceback and no error line.
    Python ignores SIGPIPE so that a closed socket is an exception, not a death; the default
    action is restored only now, to end this process with it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush into the closed pipe at exit
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    sys.exit(141)


def run(argv: Sequence[str] | None = None) -> int:
    """`main`, with its output flushed while a closed pipe can still be told apart from an error."""
    try:
        code = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_gone()
    return code


if __name__ == "__main__":
    sys.exit(run())
