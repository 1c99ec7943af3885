"""How the sandbox model answers badly, on purpose: the faults real models make, at documented rates.

The sandbox Anthropic (bot/sandbox/anthropic.py) has three modes:

- **polite** (the default): every answer is what was asked for.
- **realistic**: seeded (`seed`, default 7), so a run is the same every time; the faults real models
  make, at these rates:
  - each label answer (a single call's, or each item of a batch) names a label the repository does
    not have with probability 0.15 (one of `INVENTED`), and writes one of its labels in another case
    (`Bug` for `bug`) with probability 0.10;
  - of the batched answers, in order: the 1st leaves one issue out, the 2nd answers for an issue not
    in the batch instead of one that is (the stranger takes its place), the 3rd answers one issue
    twice with different labels, the 4th is cut at `max_tokens` (`stop_reason: max_tokens`, half
    its items written); a batch of one issue is never given these faults;
  - the 2nd request of all is answered `529 overloaded` (once).
  Strict tools (`strict: true`) constrain an answer to the schema, as on the API: the label faults
  cannot pass a strict tool's enum (an invented label is not written, a label comes in its enum
  spelling); the structural ones can (the item count and the numbers are not in a cacheable
  schema), as can the cut and the 529.
- **worst-case**: obeys every instruction it finds in the issues of a prompt: a sentence in an
  issue's text that tells it to label (tag, mark, add, apply) with a label of the list, applied to
  every item of the prompt when the sentence says every / all / each / other issues (or "this
  batch"), otherwise to that issue's own item. Nothing else about it is bad.

The functions here are pure: the sandbox calls them on the tool input it would otherwise send.
"""

from __future__ import annotations

import copy
import enum
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

INVENTED: tuple[str, ...] = ("pwned", "urgent", "P0", "needs-triage")
INVENTED_RATE = 0.15
MISCASED_RATE = 0.10
OVERLOADED_REQUEST = 2  # the request (1-based, of all) answered 529 once
DEFAULT_SEED = 7


class Mode(enum.StrEnum):
    POLITE = "polite"
    REALISTIC = "realistic"
    WORST_CASE = "worst-case"


class BatchFault(enum.StrEnum):
    MISSING = "missing"
    STRANGER = "stranger"
    REPEATED = "repeated"
    CUT = "cut"


BATCH_FAULTS: tuple[BatchFault, ...] = (BatchFault.MISSING, BatchFault.STRANGER, BatchFault.REPEATED, BatchFault.CUT)


@dataclass
class Realistic:
    """The seeded state of the realistic mode: what has been done so far."""

    seed: int = DEFAULT_SEED
    rng: random.Random = field(init=False)
    batches: int = 0  # batched answers given
    faults: list[str] = field(default_factory=list)  # what was done, for tests and the bench

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def labels(self, labels: list[str], allowed: Sequence[str]) -> list[str]:
        """One item's labels, with an invented one and another case at the documented rates."""
        result = list(labels)
        if self.rng.random() < INVENTED_RATE:
            invented = INVENTED[self.rng.randrange(len(INVENTED))]
            result.append(invented)
            self.faults.append(f"invented {invented}")
        if result and self.rng.random() < MISCASED_RATE:
            index = self.rng.randrange(len(result))
            result[index] = _other_case(result[index])
            self.faults.append(f"miscased {result[index]}")
        return result

    def batch(self, items: list[JSON], numbers: Sequence[int]) -> tuple[list[JSON], bool]:
        """A batched answer's items with this answer's scheduled fault; True when it is to be cut."""
        self.batches += 1
        if len(items) < 2 or self.batches > len(BATCH_FAULTS):
            return items, False
        fault = BATCH_FAULTS[self.batches - 1]
        self.faults.append(f"batch {self.batches}: {fault}")
        changed = copy.deepcopy(items)
        if fault is BatchFault.MISSING:
            del changed[len(changed) // 2]
        elif fault is BatchFault.STRANGER:
            changed[len(changed) // 2]["number"] = max(numbers) + 1000
        elif fault is BatchFault.REPEATED:
            twin = copy.deepcopy(changed[0])
            twin["labels"] = [*twin.get("labels", []), "question"] if "question" not in twin.get("labels", []) else []
            changed.append(twin)
        elif fault is BatchFault.CUT:
            return changed[: len(changed) // 2], True
        return changed, False


def _other_case(label: str) -> str:
    swapped = label.capitalize() if label != label.capitalize() else label.upper()
    return swapped if swapped != label else label.swapcase()


# -- worst case: obeys what the issues say -----------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?\n]+")
_IMPERATIVE = re.compile(r"\b(label|tag|mark|add|apply|classify|set)\b", re.IGNORECASE)
_EVERYONE = re.compile(r"\b(every|all|each|other)\b[^.!?\n]*\bissues?\b|\bthis batch\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Orders:
    """What the issues of one prompt tell the model: labels for every item, and for one item."""

    everyone: tuple[str, ...] = ()
    own: dict[int, tuple[str, ...]] = field(default_factory=dict)


def orders(issues: Sequence[tuple[int, str]], allowed: Sequence[str]) -> Orders:
    """The labeling instructions in each issue's text (`(number, text)`), by whom they target."""
    everyone: list[str] = []
    own: dict[int, tuple[str, ...]] = {}
    for number, text in issues:
        mine: list[str] = []
        for sentence in _SENTENCE.findall(text):
            if not _IMPERATIVE.search(sentence):
                continue
            named = [label for label in allowed if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", sentence, re.I)]
            (everyone if _EVERYONE.search(sentence) else mine).extend(named)
        if mine:
            own[number] = tuple(dict.fromkeys(mine))
    return Orders(tuple(dict.fromkeys(everyone)), own)


def obey(labels: list[str], number: int, told: Orders) -> list[str]:
    return list(dict.fromkeys([*labels, *told.everyone, *told.own.get(number, ())]))


# -- strict tools: the answer constrained to the schema -------------------------------------------------


def constrain_labels(labels: list[Any], enum_values: Sequence[str]) -> list[str]:
    """What constrained decoding lets through for a label array: enum values only, in their spelling
    (a model that meant `Bug` writes `bug`; one that meant a label not in the list writes nothing)."""
    spelled = {value.casefold(): value for value in enum_values}
    kept = [spelled[str(label).casefold()] for label in labels if str(label).casefold() in spelled]
    return list(dict.fromkeys(kept))
