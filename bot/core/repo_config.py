"""Per-repository settings: `.github/hookwise.yml` on the default branch. Pure.

The file is optional; without it (or with an empty one) the defaults hold: summaries on merge,
labels on triage, no triage comment. A file with a mistake is not half-applied: the defaults hold
and the mistake is reported in one short line naming the key, so the `help` reply can show it -
except that a file asking for `triage: shadow: true` keeps shadow mode (it only ever writes less).
Every key is documented, with its default, in `docs/hookwise.example.yml`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

CONFIG_PATH = ".github/hookwise.yml"
MAX_BYTES = 64 * 1024
MAX_INSTRUCTIONS = 2000
MAX_LANGUAGE = 40
MAX_LABEL = 50  # GitHub's own limit on a label name
MAX_LABELS_LISTED = 100
MAX_LABELS = 10  # `triage.max_labels` at most: the most labels one issue may get
MAX_PATTERN = 200
MAX_PATTERNS = 50
MAX_DEPTH = 10  # the file needs 3 levels (top, section, list)

try:  # libyaml: the same safe loader, an order of magnitude faster
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

# A language name goes into a prompt: letters only, words joined by single spaces or hyphens.
_LANGUAGE = re.compile(r"[^\W\d_]+(?:[ -][^\W\d_]+)*")
_MATCHES_EVERYTHING = re.compile(r"[*/]*")


def _listify(value: Any) -> Any:
    """A single string where a list belongs is a list of one."""
    return [value] if isinstance(value, str) else value


def _label(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("a label name cannot be empty")
    if len(name) > MAX_LABEL:
        raise ValueError(f"a label name has at most {MAX_LABEL} characters")
    if any(ord(char) < 32 for char in name):
        raise ValueError("a label name must be one line of text")
    return name


def _pattern(pattern: str) -> str:
    """A path pattern, matched with `fnmatch` against paths from the repository root (`*` crosses `/`)."""
    pattern = pattern.strip()
    while pattern.startswith(("./", "/")):
        pattern = pattern.removeprefix(".").removeprefix("/")
    if pattern.endswith("/"):
        pattern += "**"  # a directory: everything in it
    if not pattern:
        raise ValueError("a path pattern cannot be empty")
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"a path pattern has at most {MAX_PATTERN} characters")
    if any(ord(char) < 32 for char in pattern):
        raise ValueError("a path pattern must be one line of text")
    if "\\" in pattern:
        raise ValueError('separate directories with "/", not "\\"')
    if _MATCHES_EVERYTHING.fullmatch(pattern):
        raise ValueError(f'"{pattern}" would leave out every file; set summaries.enabled: false instead')
    return pattern


def _share(value: Any) -> Any:
    """A number from 0 to 1 (`yes` or `"0.5"` are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number from 0 to 1, like 0.6")
    return float(value)


def _language(name: str) -> str:
    name = " ".join(name.split())
    if not _LANGUAGE.fullmatch(name):
        raise ValueError('must be a language name: letters, spaces and hyphens only, like "English" or "Português"')
    return name


Label = Annotated[str, AfterValidator(_label)]
Pattern = Annotated[str, AfterValidator(_pattern)]
Labels = Annotated[tuple[Label, ...], BeforeValidator(_listify), Field(max_length=MAX_LABELS_LISTED)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        # `key:` with nothing after it (YAML null) leaves the key at its default. A key YAML read as
        # something else than text (`1:`, `yes:`) is named as written, so it is reported as unknown.
        if isinstance(data, dict):
            return {_key_name(key): value for key, value in data.items() if value is not None}
        return data


def _key_name(key: Any) -> Any:
    if isinstance(key, bool):
        return str(key).lower()
    return key if isinstance(key, str) else str(key)


class SummariesConfig(_Section):
    enabled: StrictBool = True
    exclude_paths: Annotated[tuple[Pattern, ...], BeforeValidator(_listify), Field(max_length=MAX_PATTERNS)] = ()


class TriageConfig(_Section):
    labels: StrictBool = True
    comment: StrictBool = False
    allow_labels: Labels | None = None  # None: any label the repository has
    deny_labels: Labels = ()
    max_labels: Annotated[StrictInt, Field(ge=1, le=MAX_LABELS)] = 3
    shadow: StrictBool = False  # choose and record labels, write nothing (bot/core/agreement.py measures them)
    min_precision: Annotated[float, BeforeValidator(_share), Field(ge=0, le=1)] = 0.6  # the trust floor
    always_apply: Labels = ()  # pinned on: applied whatever their measured precision
    suggest_only: Labels = ()  # pinned off: only ever recorded as suggestions


class RepoConfig(_Section):
    summaries: SummariesConfig = SummariesConfig()
    triage: TriageConfig = TriageConfig()
    instructions: Annotated[str, Field(max_length=MAX_INSTRUCTIONS)] = ""
    language: Annotated[str, Field(max_length=MAX_LANGUAGE), AfterValidator(_language)] = "English"


DEFAULTS = RepoConfig()


@dataclass(frozen=True, slots=True)
class ConfigResult:
    config: RepoConfig  # the file's settings, or DEFAULTS when there is no file or it has a problem
    problem: str | None = None  # one line for people: what is wrong and where
    source: Literal["defaults", "file"] = "defaults"


def parse_config(text: str | None) -> ConfigResult:
    """The settings in the text of `.github/hookwise.yml` (None: no such file). Never raises."""
    if text is None:
        return ConfigResult(DEFAULTS)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return _problem(f"the file is over {MAX_BYTES // 1024} KiB; hookwise reads smaller files only", text)
    try:
        _check_shape(text)
        document = yaml.load(text, Loader=_SafeLoader)  # the safe loader, in C where PyYAML has it
    except _Refused as exc:
        return _problem(str(exc), text)
    except yaml.MarkedYAMLError as exc:
        return _problem(_yaml_problem(exc), text)
    except Exception as exc:  # PyYAML's constructors raise more than YAMLError on odd input (`!!timestamp x`)
        detail = str(exc).splitlines()[0] if isinstance(exc, yaml.YAMLError | ValueError) and str(exc) else ""
        return _problem(f"could not parse YAML: {detail or 'a value does not fit its `!!` tag'}", text)
    if document is None:
        return ConfigResult(DEFAULTS, source="file")
    if not isinstance(document, dict):
        return _problem(f"the file must be a mapping of keys (like `triage:`), not {_kind(document)}", text)
    try:
        return ConfigResult(RepoConfig.model_validate(document), source="file")
    except ValidationError as exc:
        errors = exc.errors()
        message = _error_message(errors[0])
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        return _problem(message, text, document)


# A file with a mistake is not applied, except that one asking for shadow mode keeps it: shadow
# only ever makes hookwise write less, and a typo elsewhere must not start it labelling issues.
_ASKS_FOR_SHADOW = re.compile(r"\bshadow\s*:\s*(?:true|yes|on)\b", re.IGNORECASE)
SHADOW_DEFAULTS = DEFAULTS.model_copy(update={"triage": DEFAULTS.triage.model_copy(update={"shadow": True})})


def _problem(message: str, text: str = "", document: object = None) -> ConfigResult:
    if isinstance(document, dict):
        triage = document.get("triage")
        shadow = isinstance(triage, dict) and triage.get("shadow") is True
    else:
        shadow = bool(_ASKS_FOR_SHADOW.search(text[:MAX_BYTES]))
    return ConfigResult(SHADOW_DEFAULTS if shadow else DEFAULTS, problem=message)


class _Refused(Exception):
    """A document hookwise will not build, with the one-line reason."""


def _check_shape(text: str) -> None:
    """Refuse aliases and deep nesting before anything builds the document: hookwise needs neither,
    aliases can make a small file expand into an enormous document, and PyYAML builds nested
    collections by recursion. Parsing events is iterative, so this is safe on any input."""
    depth = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"{_line(event)}YAML aliases (*name) are not supported here")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"{_line(event)}nested too deeply (hookwise's keys are 2 levels deep)")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _line(event: yaml.Event) -> str:
    return f"line {event.start_mark.line + 1}: " if event.start_mark is not None else ""


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}: " if mark is not None else ""
    what = exc.problem or exc.context or "not valid YAML"
    return f"{where}could not parse YAML: {what}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


_SECTIONS: dict[tuple[str | int, ...], type[BaseModel]] = {
    (): RepoConfig,
    ("summaries",): SummariesConfig,
    ("triage",): TriageConfig,
}


def _where(loc: tuple[str | int, ...]) -> str:
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
    return where


def _error_message(error: ErrorDetails) -> str:
    """One pydantic error as one line for people: `triage.max_labels: must be at most 10`."""
    loc = tuple(error["loc"])
    kind, ctx, given = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "extra_forbidden":
        parent, key = loc[:-1], str(loc[-1])
        section = _SECTIONS.get(parent)
        known = list(section.model_fields) if section else []
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
        hint = f' (did you mean "{close[0]}"?)' if close else (f" (known keys: {', '.join(known)})" if known else "")
        prefix = f"{_where(parent)}: " if parent else ""
        return f'{prefix}unknown key "{key}"{hint}'
    if kind in ("bool_type", "bool_parsing"):
        what = "must be true or false"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        what = "must be a whole number"
    elif kind == "string_type":
        what = "must be text" + (" (put it in quotes)" if isinstance(given, bool | int | float | date) else "")
    elif kind in ("list_type", "tuple_type"):
        what = "must be a list"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        what = "must be a mapping of keys"
    elif kind == "less_than_equal":
        what = f"must be at most {ctx.get('le')}"
    elif kind == "greater_than_equal":
        what = f"must be at least {ctx.get('ge')}"
    elif kind == "string_too_long":
        what = f"must be at most {ctx.get('max_length')} characters"
    elif kind == "too_long":
        what = f"must have at most {ctx.get('max_length')} entries"
    elif kind == "value_error":
        what = str(ctx.get("error", error["msg"]))
    else:
        what = error["msg"][:1].lower() + error["msg"][1:]
    return f"{_where(loc) or 'the file'}: {what}"


def describe(config: RepoConfig) -> list[str]:
    """The effective settings as short markdown list items (for the `help` reply). Names from the
    file appear only inside code spans, so none of them renders as markup or pings anybody."""
    summaries = config.summaries
    triage = config.triage
    summary_line = "- Summaries of merged pull requests: " + ("on" if summaries.enabled else "off")
    if summaries.enabled and summaries.exclude_paths:
        summary_line += ", leaving out " + _codes(summaries.exclude_paths)
    if not triage.labels:
        labels_line = "- Labels on new issues: off"
    else:
        labels_line = f"- Labels on new issues: on, at most {triage.max_labels}, "
        if triage.allow_labels is None:
            labels_line += "from any existing label"
        elif not triage.allow_labels:
            labels_line += "from none (`allow_labels` is empty)"
        else:
            labels_line += "from " + _codes(triage.allow_labels)
        if triage.deny_labels:
            labels_line += " except " + _codes(triage.deny_labels)
    instructions = config.instructions.strip()
    if triage.shadow:
        labels_line = "- Labels on new issues: shadow mode (chosen and recorded, never added)"
    return [
        summary_line,
        labels_line,
        "- Triage comment on new issues: " + ("on" if triage.comment else "off"),
        f"- Language: {_code(config.language)}",
        "- Extra instructions: " + (f"yes ({len(instructions)} characters)" if instructions else "none"),
    ]


def _code(text: str) -> str:
    """`text` as one code span, fenced by more backticks than any run inside it (CommonMark)."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if fence != "`" or text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _codes(items: tuple[str, ...], limit: int = 10) -> str:
    shown = ", ".join(_code(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
