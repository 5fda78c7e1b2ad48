"""The `vidrd-bench` command line: a thin click layer over one module per concern."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vidrd_bench import __version__
from vidrd_bench.errors import VidrdBenchError

WEIGHTS_DIR_OPTION = click.option(
    "--weights-dir",
    envvar="VIDRD_BENCH_WEIGHTS",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding model and detector files [env VIDRD_BENCH_WEIGHTS; default ~/.cache/vidrd-bench/weights].",
)


class FriendlyGroup(click.Group):
    """A click group that turns VidrdBenchError into a one-paragraph message and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidrdBenchError as e:
            click.echo(click.style("error: ", fg="red", bold=True) + str(e), err=True)
            sys.exit(e.exit_code)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidrd-bench")
def main() -> None:
    """vidrd-bench: the VidRD UCF-101 text-to-video benchmark.

    Generate the 10K UCF-101 evaluation videos with the VidRD generator, score them with FVD (I3D)
    and IS (C3D) under named, frozen protocols, and turn the results into comparison tables and CI
    regression reports. Weights are never downloaded: see `vidrd-bench weights`.
    """


@main.command("weights")
@WEIGHTS_DIR_OPTION
@click.option("--no-hash", is_flag=True, help="Skip sha256 of present files (faster on large checkpoints).")
@click.option("--check", "check", multiple=True, metavar="PROTOCOL",
              help="Exit 1 unless every file this protocol needs is present (repeatable; e.g. ucf101-vidrd).")
def weights_cmd(weights_dir: Path | None, no_hash: bool, check: tuple[str, ...]) -> None:
    """List the model and detector files each protocol needs, which are present, and where to get the rest."""
    from vidrd_bench import weights

    root = weights.weights_dir(weights_dir)
    click.echo(f"weights folder: {root}  ({'exists' if root.is_dir() else 'does not exist'})")
    click.echo(f"  chosen by --weights-dir, else ${weights.ENV_VAR}, else {weights.DEFAULT_DIR}\n")
    rows = weights.status(root, with_hash=not no_hash)
    by_name = {r.name: r for r in rows}
    for protocol, names in weights.PROTOCOL_WEIGHTS.items():
        click.echo(f"protocol {protocol}: " + ", ".join(
            f"{n} [{'ok' if by_name[n].present else by_name[n].problem}]" for n in names))
    click.echo("")
    for r in rows:
        mark = click.style("present", fg="green") if r.present else click.style(r.problem.upper(), fg="red")
        optional = " (optional)" if r.entry.optional else ""
        click.echo(f"{r.name}{optional}: {mark}")
        click.echo(f"  what: {r.entry.what}")
        if r.present:
            click.echo(f"  sha256: {r.sha256 or '(skipped)'}")
        else:
            click.echo(f"  expected: {r.entry.structure}")
            click.echo(f"  obtain from: {r.entry.source}")
    missing = [r for r in rows if not r.present and not r.entry.optional]
    if missing:
        click.echo(f"\n{len(missing)} required file(s) missing; place them under {root}. vidrd-bench never downloads weights.")
    for protocol in check:
        if protocol not in weights.PROTOCOL_WEIGHTS:
            raise VidrdBenchError(f"--check {protocol!r}: unknown protocol; known: {', '.join(weights.PROTOCOL_WEIGHTS)}.")
        absent = [n for n in weights.PROTOCOL_WEIGHTS[protocol] if not by_name[n].present]
        if absent:
            raise VidrdBenchError(
                f"Protocol {protocol} cannot run: {', '.join(absent)} missing under {root} (guidance listed above)."
            )


if __name__ == "__main__":
    main()
