"""Every Redis key hookwise uses, in one place: what it holds and how long it lives.

arq's own layout (its queue and job keys) is included because the ledger writes arq jobs itself,
in one script with the delivery's record (bot/adapters/store/ledger.py).
"""

from __future__ import annotations

# arq
QUEUE = "arq:queue"  # sorted set: job id by score (arq's default queue)
JOB = "arq:job:"  # + job id: the serialised arq job
IN_PROGRESS = "arq:in-progress:"  # + job id: set while a worker runs the job (read by the status page)
# + "host:pid": arq's health line of one worker process ("... j_complete=3 j_failed=0 ... queued=0"),
# written by its polling loop every WORKER_HEALTH_EVERY_S and living 1 s longer; deleted when it stops
# cleanly. `python -m bot healthcheck` reads it (bot/healthcheck.py).
WORKER_HEALTH = "hookwise:worker-health:"
WORKER_HEALTH_EVERY_S = 15

# deliveries and provenance
DELIVERY = "hookwise:delivery:"  # + delivery id: hash {state, attempt, accepted_ms, job}; 4 days
RECORD = "hookwise:record:"  # + delivery id: the job's provenance record (JSON); 14 days
RECENT = "hookwise:records"  # sorted set: delivery id by finish time (the newest 10,000)
DEAD = "hookwise:dead"  # sorted set: delivery ids whose job failed for good

# exactly-once effects
LOCK = "hookwise:lock:"  # + "owner/repo#number": redis-py Lock serialising writes to one issue or PR
EFFECT = "hookwise:effect:"  # + effect key: what was done (e.g. the comment id); 30 days
DRAFT = "hookwise:draft:"  # + job and effect: a model answer a retry reuses; 1 hour

# what release notes are made of
SUMMARY_RECORD = "hookwise:summary-record:"  # + "owner/repo#number": the posted summary, compact (JSON); 183 days

# caches shared by every worker
PROMPT_WARM = (
    "hookwise:prompt-warm:"  # + prefix key: a call that wrote this prompt-cache prefix has returned; 4 minutes
)
PROMPT_WARMING = "hookwise:prompt-warming:"  # + prefix key: held by the call writing that prefix; 30 s at most
CONFIG_GENERATION = "hookwise:config-gen:"  # + owner: bumped by a push that changes a config file
PERMISSION = "hookwise:permission:"  # + "owner/repo:login": "permission|role"; 5 minutes
COOLDOWN = "hookwise:cooldown:"  # + "owner/repo#number:kind": a command's model run; 1 minute

# the cost ledger and the daily budget (bot/adapters/store/costs.py)
COST = "hookwise:cost:"  # + UTC hour "YYYY-MM-DDTHH": hash "installation|repo|task|model|column" -> sum; 35 days
BUDGET = "hookwise:budget:"  # + "installation:YYYY-MM-DD": model tokens used that UTC day, all counted; 2 days

# micro-batched triage, one set of keys per repository (bot/adapters/store/triage_queue.py)
TRIAGE_WAITING = "hookwise:triage:waiting:"  # + repo[!lane]: sorted set, issue number by arrival (ms)
TRIAGE_ENTRY = "hookwise:triage:entry:"  # + repo: hash, issue number -> its WaitingIssue (JSON) until finished
TRIAGE_CLAIMED = "hookwise:triage:claimed:"  # + repo: sorted set, issue number by claim deadline (ms)
TRIAGE_CLAIMER = "hookwise:triage:claimer:"  # + repo: hash, issue number -> the batch job holding it
TRIAGE_PENDING = "hookwise:triage:pending:"  # + repo: id of the batch job queued and not yet started
TRIAGE_ROUND = "hookwise:triage:round:"  # + repo: counter of the repository's batch rounds
BATCH_JOB = "triage-batch:"  # + repo + ":" + round: the arq job id of one batch round

# the status page's trends and warnings (bot/adapters/store/trends.py): counts only, no names or text
DELIVERIES_HOUR = "hookwise:deliveries-hour:"  # + UTC hour "YYYY-MM-DDTHH": hash outcome -> deliveries; 2 days
SIGNATURE_FAILURES = "hookwise:signature-failures:"  # + UTC minute "YYYY-MM-DDTHH:MM": hash missing|mismatch; 2 h
COST_DAY = "hookwise:cost-day:"  # + UTC day "YYYY-MM-DD": hash usd|tokens|calls of every model call; 35 days

# the redelivery sweeper
SWEEP_CHECKPOINT = "hookwise:sweeper:checkpoint"  # ISO time the next scheduled sweep lists back to
SWEEP_REQUESTED = "hookwise:sweeper:requested:"  # + guid: a claim, then "requested"; 3 days


def delivery(delivery_id: str) -> str:
    return DELIVERY + delivery_id


def record(delivery_id: str) -> str:
    return RECORD + delivery_id


def worker_health(host: str, pid: int) -> str:
    return f"{WORKER_HEALTH}{host}:{pid}"


def target(repository: str, number: int) -> str:
    return f"{repository}#{number}"


def summary_record(repository: str, number: int) -> str:
    return f"{SUMMARY_RECORD}{repository.lower()}#{number}"


def permission(repository: str, login: str) -> str:
    return f"{PERMISSION}{repository.lower()}:{login.lower()}"


def cooldown(repository: str, number: int, kind: str) -> str:
    return f"{COOLDOWN}{repository.lower()}#{number}:{kind}"


def config_generation(owner: str) -> str:
    return CONFIG_GENERATION + owner.lower()


def sweep_requested(guid: str) -> str:
    return SWEEP_REQUESTED + guid


def cost_hour(hour: str) -> str:
    return COST + hour


def deliveries_hour(hour: str) -> str:
    return DELIVERIES_HOUR + hour


def signature_failures(minute: str) -> str:
    return SIGNATURE_FAILURES + minute


def cost_day(day: str) -> str:
    return COST_DAY + day


def budget(installation_id: int, day: str) -> str:
    return f"{BUDGET}{installation_id}:{day}"


def triage_queue(repository: str, lane: str = "") -> dict[str, str]:
    """The keys of one repository's triage batching, by role: of its main lane, or of another
    (`quarantine`: issues whose text addresses the model, batched only with each other)."""
    repo = repository.lower() + (f"!{lane}" if lane else "")
    return {
        "waiting": TRIAGE_WAITING + repo,
        "entry": TRIAGE_ENTRY + repo,
        "claimed": TRIAGE_CLAIMED + repo,
        "claimer": TRIAGE_CLAIMER + repo,
        "pending": TRIAGE_PENDING + repo,
        "round": TRIAGE_ROUND + repo,
    }


def batch_job_id(repository: str, round_number: int | str, lane: str = "") -> str:
    return f"{BATCH_JOB}{repository.lower()}{f'!{lane}' if lane else ''}:{round_number}"


# triage agreement (bot/core/agreement.py): what hookwise chose for an issue, and people's changes since
TRIAGE = "hookwise:triage:"  # + "owner/repo#number": the TriageRecord (JSON, without its changes); 90 days
TRIAGE_CHANGES = "hookwise:triage-changes:"  # + "owner/repo#number": list of a person's label changes (JSON)
TRIAGED = "hookwise:triaged:"  # + "owner/repo": sorted set of issue numbers by triage time
TRIAGED_REPOS = "hookwise:triaged-repos"  # sorted set of "owner/repo" by last triage time
TRIAGE_POLICY = "hookwise:triage-policy:"  # + "owner/repo": the trust floor and pins its config had


def triage(repository: str, number: int) -> str:
    return f"{TRIAGE}{repository.lower()}#{number}"


def triage_changes(repository: str, number: int) -> str:
    return f"{TRIAGE_CHANGES}{repository.lower()}#{number}"


def triaged(repository: str) -> str:
    return TRIAGED + repository.lower()


def triage_policy(repository: str) -> str:
    return TRIAGE_POLICY + repository.lower()
