"""What this worker process did, counted by how each delivery ended, for its shutdown line.

arq's own shutdown line (`shutdown on SIGTERM ◆ 3 jobs complete ◆ 0 failed ◆ ...`) counts arq jobs
by whether the job function returned: a delivery whose job failed for good is recorded as a dead
letter and then returns normally, so arq counts it "complete". This counts the outcomes hookwise
records (bot/worker/job.py: `save_record`, which the batch rounds use too), one per delivery try.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from bot.core.outcome import OutcomeKind

log = logging.getLogger("hookwise.worker")

COUNTED = (OutcomeKind.DONE, OutcomeKind.SKIPPED, OutcomeKind.FAILED, OutcomeKind.RETRYING)


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)

    def count(self, outcome: str) -> None:
        if outcome in COUNTED:
            self.outcomes[outcome] += 1

    def line(self) -> str:
        """`worker stopped: 5 deliveries ended here (3 done, 1 skipped, 1 failed); 2 tries to be retried`."""
        done, skipped, failed = (self.outcomes[kind] for kind in COUNTED[:3])
        retrying = self.outcomes[OutcomeKind.RETRYING]
        ended = done + skipped + failed
        text = (
            f"worker stopped: {ended} deliver{'y' if ended == 1 else 'ies'} ended here "
            f"({done} done, {skipped} skipped, {failed} failed)"
        )
        if retrying:
            text += f"; {retrying} tr{'y' if retrying == 1 else 'ies'} failed for a transient reason, to be retried"
        if failed:
            text += "; arq counts the failed ones as complete jobs (`python -m bot history --dead` lists them)"
        return text
