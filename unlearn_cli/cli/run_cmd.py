"""`gan-unlearn run | adapt | unlearn`: thin wrappers over unlearn_cli.engine.pipeline.

All three share one set of options (every one also settable in the YAML file given by --config);
flags that are not given leave the file's value or the default in place.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

_P = "Negatives"
_O = "Component options"
#: flags kept from before components had typed options: flag -> the option it sets
ALIASES = {"threshold": "source_options.threshold", "candidates": "source_options.candidates",
           "max_negatives": "source_options.max_negatives", "pick": "source_options.pick",
           "pick_file": "source_options.pick_file", "ui": "source_options.ui",
           "host": "source_options.host", "port": "source_options.port",
           "alpha": "repulsion_options.alpha", "eps": "repulsion_options.eps",
           "extrapolation_strength": "method_options.extrapolation_strength",
           "classifier_path": "classifier_options.path"}
_M = "Method"
_T = "Training"


def _make(mode: str):
    def command(
        config: Optional[Path] = typer.Option(None, "--config", help="YAML file of options; flags override it."),
        gan: Optional[str] = typer.Option(None, help="GAN plugin for foreign checkpoints (default stylegan2)."),
        ckpt: Optional[str] = typer.Option(None, help="Checkpoint path or bundled:NAME (default: bundled:mnist, or $GAN_UNLEARN_MODEL; bundled:digits is the small, fast one)."),
        neg: Optional[str] = typer.Option(None, help="Folder of negative images (implies --source folder).", rich_help_panel=_P),
        source: Optional[str] = typer.Option(None, help="Negative source (default: classifier; --neg alone chooses folder); the installed ones and their options are listed at the end.", rich_help_panel=_P),
        classifier: Optional[str] = typer.Option(None, help="Classifier plugin that finds negatives and counts PUL (default: the bundled model's own, e.g. mnist; none for your models).", rich_help_panel=_P),
        classifier_path: Optional[str] = typer.Option(None, help="File for the classifier (e.g. TorchScript).", rich_help_panel=_P),
        target: Optional[List[str]] = typer.Option(None, help="Class or attribute to forget; repeat for several (--target 3 --target 8). Default: 8.", rich_help_panel=_P),
        threshold: Optional[float] = typer.Option(None, help="Classifier probability that flags a negative.", rich_help_panel=_P),
        candidates: Optional[int] = typer.Option(None, help="Samples generated to find negatives/positives.", rich_help_panel=_P),
        max_negatives: Optional[int] = typer.Option(None, help="At most this many negatives.", rich_help_panel=_P),
        pick: Optional[str] = typer.Option(None, help="manual source: numbers of undesired samples, e.g. 3,7,12.", rich_help_panel=_P),
        pick_file: Optional[str] = typer.Option(None, help="manual source: picks file (JSON from the page or `pick`) or a file of numbers.", rich_help_panel=_P),
        ui: Optional[str] = typer.Option(None, help="manual source: browser (a page to click on), terminal (grid + question), auto (default: the browser when a person is at the terminal).", rich_help_panel=_P),
        host: Optional[str] = typer.Option(None, help="manual source: address the pick page listens on (default 127.0.0.1).", rich_help_panel=_P),
        port: Optional[int] = typer.Option(None, help="manual source: port of the pick page (default 8765, else any free one).", rich_help_panel=_P),
        method: Optional[str] = typer.Option(None, help="Unlearning method (default: adapt-then-unlearn); the installed ones are listed at the end.", rich_help_panel=_M),
        repulsion: Optional[str] = typer.Option(None, help="Repulsion variant (default: exp); the installed ones are listed at the end.", rich_help_panel=_M),
        gamma: Optional[float] = typer.Option(None, help="Weight of the repulsion term.", rich_help_panel=_M),
        alpha: Optional[float] = typer.Option(None, help="Same as -o repulsion.alpha=A (the exp repulsion's rate).", rich_help_panel=_M),
        eps: Optional[float] = typer.Option(None, help="Same as -o repulsion.eps=E (the inverse repulsion's offset).", rich_help_panel=_M),
        extrapolation_strength: Optional[float] = typer.Option(None, help="Same as -o method.extrapolation_strength=S (the extrapolation method).", rich_help_panel=_M),
        adapt_iters: Optional[int] = typer.Option(None, help="Stage 1 steps.", rich_help_panel=_M),
        adapted_models: Optional[int] = typer.Option(None, help="Number of adapted models (seeds).", rich_help_panel=_M),
        ewc_lambda: Optional[float] = typer.Option(None, help="EWC weight (Fisher normalised to mean 1).", rich_help_panel=_M),
        unlearn_iters: Optional[int] = typer.Option(None, help="Stage 2 steps.", rich_help_panel=_M),
        adapted_fakes: Optional[float] = typer.Option(None, help="Weight of the adapted models' samples shown to D as fake in stage 2 (0 = the paper's stage 2).", rich_help_panel=_M),
        adapted: Optional[List[Path]] = typer.Option(None, help="unlearn: adapted model file(s) from `adapt`.", rich_help_panel=_M),
        batch: Optional[int] = typer.Option(None, help="Batch size.", rich_help_panel=_T),
        lr: Optional[float] = typer.Option(None, help="Adam learning rate.", rich_help_panel=_T),
        device: Optional[str] = typer.Option(None, help="auto, cpu or cuda.", rich_help_panel=_T),
        precision: Optional[str] = typer.Option(None, help="fp32 or bf16.", rich_help_panel=_T),
        compile: Optional[str] = typer.Option(None, "--compile", help="auto, on or off: torch.compile the G and D forward passes (auto: only where it makes the run faster; docs/performance.md).", rich_help_panel=_T),
        seed: Optional[int] = typer.Option(None, help="Random seed.", rich_help_panel=_T),
        eval_samples: Optional[int] = typer.Option(None, help="Samples for PUL and FID."),
        reference: Optional[str] = typer.Option(None, help="Real images for FID: dataset plugin or folder."),
        option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="KEY=VALUE: an option of the chosen source, repulsion, method or classifier (repeatable); KIND.KEY=VALUE when two take KEY, e.g. -o repulsion.alpha=2. `list-plugins --options` shows every component's.", rich_help_panel=_O),
        plugin_option: Optional[List[str]] = typer.Option(None, help="Same as --option (kept for older scripts).", hidden=True),
        out: Optional[str] = typer.Option(None, help="Run folder (default: runs/run-TIMESTAMP)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Allow a non-empty --out."),
        export: Optional[str] = typer.Option(None, help="Also write the unlearned model for other tools: rosinality, nvidia-state-dict, safetensors, or auto (a .pt/.pkl input's own format); see `gan-unlearn export`."),
        resume: Optional[Path] = typer.Option(None, help="Continue an interrupted run in this folder (its saved options)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    ) -> None:
        given = dict(locals())  # first: only the options, before any import adds names
        from unlearn_cli.config import RunConfig, parse_plugin_options, resolve
        from unlearn_cli.engine.pipeline import run
        from unlearn_cli.errors import UnlearnError

        flags = {k: v for k, v in given.items()
                 if k not in ("config", "adapted", "quiet", "batch", "lr", "overwrite", "mode", "resume",
                              "plugin_option", "option", *ALIASES)}
        flags.update({"train.batch": batch, "train.lr": lr, "overwrite": overwrite or None})
        flags["target"] = list(target) if target else None  # repeated: several targets
        # the older flags set the chosen component's option of that name (component_options.LEGACY)
        flags.update({ALIASES[k]: given[k] for k in ALIASES})
        flags.update(parse_plugin_options(plugin_option, "--plugin-option"))
        flags.update(parse_plugin_options(option, "--option"))
        if adapted and mode != "unlearn":
            raise UnlearnError("--adapted is for `gan-unlearn unlearn`; `run` adapts by itself")
        if mode == "unlearn" and not adapted:
            raise UnlearnError("`unlearn` needs --adapted FILE (made by `gan-unlearn adapt`)")
        if resume is not None:
            options = _resume_options(resume, config, flags)
        else:
            from unlearn_cli.python_api import run_config

            options = run_config(config, **flags)  # the Python API's own resolution (docs/python-api.md)
        # (Ctrl-C and SIGTERM are handled for every command: cli/common.py, engine/interrupts.py)
        metrics = run(options, show_progress=not quiet, mode=mode, adapted_files=adapted or [],
                      ask=_terminal_prompt(), resume_dir=resume)
        from unlearn_cli.cli.summary import print_summary

        print_summary(metrics)

    command.__doc__ = {
        "run": "Adapt to the negatives, unlearn them, and evaluate (the whole method).",
        "adapt": "Stage 1 only: adapt copies of the GAN to the negatives (writes adapted*.safetensors).",
        "unlearn": "Stage 2 only: unlearn, repelled from --adapted model files.",
    }[mode]
    return command


def _resume_options(resume: Path, config: Optional[Path], flags: dict):
    """The options saved in RESUME/config.yaml. Options given as well must agree with them
    (finished stages are reused only for the same job); a difference names every key."""
    from unlearn_cli.config import RunConfig, resolve
    from unlearn_cli.engine.pipeline import load_resume_config
    from unlearn_cli.errors import UnlearnError

    if flags.get("overwrite"):
        raise UnlearnError(f"--resume continues {resume}; --overwrite would start it afresh: "
                           f"drop one of them")
    saved = load_resume_config(resume)
    given = {k for k, v in flags.items() if v is not None}
    if not given and config is None:
        return saved
    have = _flat(saved.model_dump(mode="json"))
    wanted = _flat(resolve(RunConfig, config, flags).model_dump(mode="json"))
    if config is not None:  # the keys the file sets (those it changes from the defaults)
        base = _flat(resolve(RunConfig, None, {}).model_dump(mode="json"))
        from_file = _flat(resolve(RunConfig, config, {}).model_dump(mode="json"))
        given |= {k for k in from_file if from_file[k] != base.get(k)}
    if "out" in given and Path(str(wanted["out"])).resolve() == Path(resume).resolve():
        given.discard("out")
    given = {_routed(k, wanted) for k in given}  # -o KEY=VALUE: the component option it set
    differ = [k for k in sorted(given) if k in wanted and wanted[k] != have.get(k)]
    if differ:
        shown = ", ".join(f"{_flag_name(k)} (saved {have.get(k)!r}, given {wanted[k]!r})"
                          for k in differ)
        raise UnlearnError(f"--resume {resume}: options differ from its config.yaml: {shown}; "
                           f"drop them to continue that run, or start a new one with --out")
    return saved


def _flat(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _routed(key: str, wanted: dict) -> str:
    """``options.alpha`` (an -o item) -> ``repulsion_options.alpha``, the key it set."""
    if not key.startswith("options."):
        return key
    from unlearn_cli.component_options import KIND_KEYS

    name = key.split(".", 1)[1]
    kind, dot, bare = name.rpartition(".")
    if dot:
        return f"{KIND_KEYS.get(kind, kind)}.{bare}"
    return next((f"{k}.{bare}" for k in KIND_KEYS.values() if f"{k}.{bare}" in wanted), key)


def _flag_name(key: str) -> str:
    flag = next((f for f, k in ALIASES.items() if k == key), None)
    if flag is not None:  # an option with an older flag of its own: --threshold
        return "--" + flag.replace("_", "-")
    kind, _, option = key.partition("_options.")
    if option:  # a component option: -o KIND.KEY
        return f"-o {kind}.{option}"
    return "--" + key.replace("train.", "").replace("_", "-")


def _terminal_prompt():
    """Ask on the terminal; with no terminal (scripts, CI) sources get None and must say so."""
    import sys

    if not sys.stdin.isatty():
        return None

    def ask(prompt: str) -> str:
        try:
            return typer.prompt(prompt, prompt_suffix="")
        except typer.Abort:  # (Click's answer to both end of input and Ctrl-C)
            from unlearn_cli.engine import interrupts

            sys.stdout.write("\n")  # end the prompt's line, so the error line has its own
            sys.stdout.flush()
            if interrupts.pending() is not None:
                raise KeyboardInterrupt from None
            raise EOFError("end of input") from None  # sources say what to do instead

    return ask


def _command_class():
    """A Typer command whose --help ends with the installed components of each kind and the
    options each takes with their defaults (from the components' options models, read when
    --help is asked for, so start-up stays cheap)."""
    from typer.core import TyperCommand

    class WithComponents(TyperCommand):
        def format_help(self, ctx, formatter) -> None:
            _show_defaults(self.params)
            super().format_help(ctx, formatter)
            import sys

            sys.stdout.write(components_help())

    return WithComponents


def _show_defaults(params) -> None:
    """Each flag's help ends with its default, read from RunConfig (the flags themselves default
    to None: "not given", so the YAML file's value or the config's default applies)."""
    from unlearn_cli.config import RunConfig, TrainOptions

    defaults = {**{k: f.default for k, f in TrainOptions.model_fields.items()},
                **{k: f.default for k, f in RunConfig.model_fields.items()}}
    for param in params:
        value = defaults.get(param.name)
        help_text = getattr(param, "help", None)
        if (value is None or isinstance(value, (dict, list)) or not help_text
                or "default" in help_text or isinstance(value, bool) or param.name == "train"):
            continue
        param.help = f"{help_text} (default: {value})"  # (brackets would be rich markup)


def components_help() -> str:
    """``Installed components`` text: each kind, its components, their options and defaults."""
    from unlearn_cli.component_options import KIND_KEYS
    from unlearn_cli.errors import UnlearnError
    from unlearn_cli.plugins import get_registry, option_rows
    from unlearn_cli.safe_text import visible

    registry = get_registry()
    lines = ["", "Installed components (set their options with -o KEY=VALUE; "
                 "`gan-unlearn list-plugins --options` describes them):"]
    collided = {(k, n) for k, n, _ in registry.collisions()}
    for kind in KIND_KEYS:
        lines.append(f"  --{kind}:")
        for p in sorted((p for p in registry.components if p.kind == kind), key=lambda p: p.spec.name):
            name = p.qualified if (kind, p.spec.name) in collided else p.spec.name
            try:
                rows = option_rows(p)
            except UnlearnError:
                rows = None
            if rows is None:
                shown = "(options unchecked)"
            else:
                shown = ", ".join(f"{o['key']}={'REQUIRED' if o['required'] else o['default']}"
                                  for o in rows) or "no options"
            lines.append(f"    {visible(name)}: {visible(shown)}")
    return "\n".join(lines) + "\n"


run = _make("run")
adapt = _make("adapt")
unlearn = _make("unlearn")
for _command in (run, adapt, unlearn):
    _command.command_class = _command_class()
