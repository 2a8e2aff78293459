"""``python -m context_service fleet up|down|logs|ps|render|check|pause|resume|run-local``,
``deploy|rollback|deploy-status`` (staged deploys, see fleet/deploy.py).

``up`` validates the fleet file and env files first and prints everything that is missing, then
regenerates the compose file and runs Docker Compose. ``--bot ID`` starts or stops one bot without
touching the others. ``pause`` is the kill switch: no new entries, open trades still managed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from context_service.fleet import runner
from context_service.fleet.checks import check_fleet, errors
from context_service.fleet.compose import write_fleet
from context_service.fleet.envfiles import EnvFileError
from context_service.fleet.killswitch import switch
from context_service.fleet.model import Fleet, FleetFileError, load_fleet
from context_service.fleet.observability import PROFILE, write_scrape_token

DEFAULT_FLEET_FILE = Path("bots.yaml")
SHARED_SERVICES = ("redis", "sidecar")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m context_service fleet", description=__doc__)
    parser.add_argument("--fleet", type=Path, default=DEFAULT_FLEET_FILE, help="fleet file")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate the fleet file and env files, start nothing")
    render = sub.add_parser("render", help="write docker/generated/compose.yaml and bot configs")
    render.add_argument("--target", choices=("compose", "kubernetes"), default="compose")
    render.add_argument("--image-prefix", default="", help="kubernetes: e.g. ghcr.io/me/")
    up = sub.add_parser("up", help="check, render, then start everything (or one bot)")
    up.add_argument("--bot", help="start only this bot (Redis and the sidecar if needed)")
    up.add_argument("--no-build", action="store_true", help="do not rebuild images")
    up.add_argument(
        "--observability",
        action="store_true",
        help="also start Prometheus (127.0.0.1:9090) and Grafana (127.0.0.1:3000)",
    )
    down = sub.add_parser("down", help="stop everything (or one bot)")
    down.add_argument("--bot", help="stop and remove only this bot's container")
    logs = sub.add_parser("logs", help="follow the logs (of everything or one bot)")
    logs.add_argument("--bot", help="only this bot")
    logs.add_argument("--tail", type=int, default=200)
    logs.add_argument("--no-follow", action="store_true")
    sub.add_parser("ps", help="show the containers")
    pause = sub.add_parser("pause", help="kill switch: no new entries (exits still handled)")
    pause.add_argument("--bot", help="only this bot")
    resume = sub.add_parser("resume", help="undo pause: the bots open trades again")
    resume.add_argument("--bot", help="only this bot")
    local = sub.add_parser("run-local", help="without Docker: sidecar + Freqtrade dry-run")
    local.add_argument("--bot", help="which bot of the fleet file to run (default: the first)")
    _deploy_commands(sub)
    return parser


def _deploy_commands(sub: argparse._SubParsersAction) -> None:
    deploy = sub.add_parser("deploy", help="staged deploy of a new image with automatic rollback")
    deploy.add_argument("--bot", required=True)
    deploy.add_argument("--image", required=True, help="the bot image tag to deploy")
    deploy.add_argument("--strategy-version", help="the commit the image was built from")
    deploy.add_argument("--gate-seconds", type=float, default=300, help="dry-run health gate")
    deploy.add_argument("--watch-seconds", type=float, default=600, help="watch after switch")
    deploy.add_argument("--switch-timeout", type=float, default=120)
    rollback = sub.add_parser("rollback", help="switch back to the previous container")
    rollback.add_argument("--bot", required=True)
    status = sub.add_parser("deploy-status", help="the deploy state of a bot (JSON)")
    status.add_argument("--bot", required=True)


def _deployer(args: argparse.Namespace, fleet: Fleet):
    from context_service.fleet.containers import DockerRunner
    from context_service.fleet.deploy import Deployer, DeployTimings
    from context_service.memory import connect
    from context_service.settings import get_settings

    timings = DeployTimings(
        gate_s=getattr(args, "gate_seconds", 300),
        watch_s=getattr(args, "watch_seconds", 600),
        switch_timeout_s=getattr(args, "switch_timeout", 120),
    )
    return Deployer(
        fleet,
        connect(get_settings()),
        DockerRunner(fleet, args.root),
        timings=timings,
        report=lambda line: print(line, flush=True),  # progress of a long command
    )


def _deploy(args: argparse.Namespace, fleet: Fleet) -> int:
    import json

    from context_service.fleet.deploy import DeployFailed

    try:
        deployer = _deployer(args, fleet)
        if args.command == "deploy-status":
            print(json.dumps(deployer.state(args.bot).as_json(), indent=2))
            return 0
        if args.command == "rollback":
            state = deployer.rollback(args.bot)
        else:
            state = deployer.deploy(args.bot, args.image, args.strategy_version)
    except (DeployFailed, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.bot}: live {state.live.name if state.live else '(fleet up)'}")
    return 0


def _load(args: argparse.Namespace) -> Fleet:
    return load_fleet(args.root / args.fleet)


def _checked(args: argparse.Namespace, fleet: Fleet) -> bool:
    problems = check_fleet(fleet, args.root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if errors(problems):
        print(
            f"\n{len(errors(problems))} problem(s) must be fixed first (nothing was started).",
            file=sys.stderr,
        )
        return False
    return True


def _compose_base(args: argparse.Namespace, fleet: Fleet) -> list[str]:
    """Render the compose file from the fleet file (so it is always current) and return the
    compose command line that uses it."""
    rendered = write_fleet(fleet, args.root / args.fleet, args.root)
    command = runner.find_compose()
    runner.check_engine()
    base = runner.compose_base(command, fleet.project, args.root, rendered.compose_file)
    if getattr(args, "observability", False):
        write_scrape_token(fleet, args.root)
        base += ["--profile", PROFILE]
    return base


def _compose(args: argparse.Namespace, fleet: Fleet, *tail: str) -> int:
    return runner.run([*_compose_base(args, fleet), *tail], cwd=args.root)


def _up(args: argparse.Namespace, fleet: Fleet) -> int:
    if not _checked(args, fleet):
        return 2
    build = [] if args.no_build else ["--build"]
    if not args.bot:
        return _compose(args, fleet, "up", "--detach", "--remove-orphans", *build)
    bot = fleet.bot(args.bot)
    base = _compose_base(args, fleet)
    # Shared services are started if missing but never recreated: the other bots keep running.
    status = runner.run([*base, "up", "--detach", "--no-recreate", *SHARED_SERVICES], cwd=args.root)
    if status != 0:
        return status
    return runner.run([*base, "up", "--detach", "--no-deps", *build, bot.service], cwd=args.root)


def _down(args: argparse.Namespace, fleet: Fleet) -> int:
    if not args.bot:
        return _compose(args, fleet, "down")
    return _compose(args, fleet, "rm", "--stop", "--force", fleet.bot(args.bot).service)


def _logs(args: argparse.Namespace, fleet: Fleet) -> int:
    tail = ["logs", "--tail", str(args.tail)]
    if not args.no_follow:
        tail.append("--follow")
    if args.bot:
        tail.append(fleet.bot(args.bot).service)
    return _compose(args, fleet, *tail)


def _switch(args: argparse.Namespace, fleet: Fleet) -> int:
    results = switch(fleet, args.root, args.command, args.bot)
    for result in results:
        print(f"{result.bot_id:<20} {'ok ' if result.ok else 'FAILED'}  {result.message}")
    return 0 if all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.root = args.root.resolve()
    if args.command == "run-local":
        from context_service.fleet.local import run_local

        return run_local(args.root, args.fleet, args.bot)
    try:
        fleet = _load(args)
        if args.command == "check":
            ok = _checked(args, fleet)
            if ok:
                print(f"fleet OK: {len(fleet.bots)} bot(s): {', '.join(b.id for b in fleet.bots)}")
            return 0 if ok else 2
        if args.command == "render" and args.target == "kubernetes":
            from context_service.fleet.kubernetes import write_kubernetes

            written = write_kubernetes(fleet, args.root, args.image_prefix)
            for path in (written.manifests, written.secrets):
                print(f"wrote {path.relative_to(args.root)}")
            return 0
        if args.command == "render":
            rendered = write_fleet(fleet, args.root / args.fleet, args.root)
            print(f"wrote {rendered.compose_file.relative_to(args.root)}")
            for path in rendered.bot_configs.values():
                print(f"wrote {path.relative_to(args.root)}")
            return 0
        if args.command in ("pause", "resume"):
            return _switch(args, fleet)
        if args.command in ("deploy", "rollback", "deploy-status"):
            return _deploy(args, fleet)
        handlers = {"up": _up, "down": _down, "logs": _logs}
        if args.command in handlers:
            return handlers[args.command](args, fleet)
        return _compose(args, fleet, "ps")
    except (
        FleetFileError,
        EnvFileError,
        OSError,
        runner.ComposeNotFound,
        runner.EngineUnreachable,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
