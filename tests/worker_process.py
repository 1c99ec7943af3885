"""`python -m tests.worker_process`: the real worker (`python -m bot worker`'s code), with a short
job timeout so a test sees a crashed worker's job picked up again in seconds, not a minute."""

from __future__ import annotations

import asyncio
import os

from bot.config import load_settings
from bot.logs import configure
from bot.worker.state import Tuning
from bot.worker.supervise import run_worker_forever

if __name__ == "__main__":
    settings = load_settings()
    configure(settings.LOG_LEVEL.value, settings.LOG_FORMAT)
    settings.check_worker()
    tuning = Tuning(job_timeout_s=float(os.environ["TEST_JOB_TIMEOUT_S"]))
    asyncio.run(run_worker_forever(settings, tuning=tuning, poll_delay=0.05))
