"""bot.core.ingress.intake.decide: which real deliveries are work, and what of them travels to the worker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.core.commands.grammar import parse_commands
from bot.core.ingress import intake
from bot.core.ingress.intake import Decision, Ignore, Malformed, Work
from bot.core.ingress.job import CommandJob, ConfigJob, LabelJob, SummaryJob, TriageJob, dump_job, parse_job
from tests.helpers import webhook_payload as load_payload


def decide(event: str, payload: Any) -> Decision:
    """intake.decide reads raw JSON; these tests start from the fixture's parsed dict."""
    return intake.decide(event, json.dumps(payload).encode())


INSTALLATION = {"id": 461842, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDYxODQy"}


def _with_installation(relpath: str) -> dict[str, Any]:
    payload = load_payload(relpath)
    payload["installation"] = dict(INSTALLATION)
    return payload


def _comment(body: str, relpath: str = "issue_comment/created.on-pull-request.json") -> dict[str, Any]:
    payload = _with_installation(relpath)
    payload["comment"]["body"] = body
    return payload


# -- pull_request --------------------------------------------------------------------------------


def test_merged_pull_request_is_work() -> None:
    payload = load_payload("pull_request/closed.merged.app.json")
    decision = decide("pull_request", payload)
    assert isinstance(decision, Work)
    assert decision.event == "pull_request"
    assert decision.action == "closed"
    assert decision.repository == "C-Saunders/flynn_env_test"
    assert decision.target == 2


def test_merged_pull_request_job_is_slim() -> None:
    original = load_payload("pull_request/closed.merged.app.json")
    decision = decide("pull_request", original)
    assert isinstance(decision, Work)
    job = decision.job

    # What the worker needs travels, typed, with GitHub's values.
    assert isinstance(job, SummaryJob)
    assert job.installation_id == 461842
    assert job.repository == "C-Saunders/flynn_env_test"
    assert (job.event, job.action, job.number) == ("pull_request", "closed", 2)

    # The big fields do not: the job has exactly its own fields.
    assert set(json.loads(dump_job(job))) == {
        "v", "kind", "delivery_id", "event", "action", "installation_id", "repository", "number",
    }  # fmt: skip

    # It is JSON and much smaller than what GitHub sent.
    assert len(dump_job(job)) * 10 < len(json.dumps(original))


def test_job_of_a_comment_keeps_what_commands_need() -> None:
    decision = decide("issue_comment", _comment("@hookwise summarize"))
    assert isinstance(decision, Work)
    job = decision.job
    assert isinstance(job, CommandJob)
    assert job.body == "@hookwise summarize"
    assert job.author.login == "lts-def"
    assert job.is_pull_request
    assert job.comment_id == load_payload("issue_comment/created.on-pull-request.json")["comment"]["id"]


def test_the_job_survives_its_journey_through_json() -> None:
    decision = decide("issue_comment", _comment("@hookwise summarize"))
    assert isinstance(decision, Work)
    assert parse_job(json.loads(dump_job(decision.job))) == decision.job


@pytest.mark.parametrize(
    "relpath", ["pull_request/closed.not-merged.app.json", "pull_request/closed.json", "pull_request/opened.json"]
)
def test_pull_request_that_is_not_a_merge_is_ignored(relpath: str) -> None:
    assert isinstance(decide("pull_request", load_payload(relpath)), Ignore)


def test_merged_flag_on_another_action_is_ignored() -> None:
    payload = load_payload("pull_request/closed.merged.app.json")
    payload["action"] = "edited"
    assert isinstance(decide("pull_request", payload), Ignore)


def test_pull_request_event_without_pull_request_is_malformed() -> None:
    payload = load_payload("pull_request/closed.merged.app.json")
    del payload["pull_request"]
    assert isinstance(decide("pull_request", payload), Malformed)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("pull_request", "number"), "abc"),
        (("pull_request", "number"), None),
        (("pull_request",), "not an object"),
        (("pull_request", "merged"), "perhaps"),
        (("installation", "id"), "abc"),
        (("repository", "full_name"), 42),
        (("repository",), []),
        (("action",), 7),
    ],
)
def test_wrong_types_are_malformed(path: tuple[str, ...], value: object) -> None:
    payload = load_payload("pull_request/closed.merged.app.json")
    holder: Any = payload
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    decision = decide("pull_request", payload)
    assert isinstance(decision, Malformed)
    assert path[0] in decision.error


def test_missing_installation_is_ignored() -> None:
    payload = load_payload("pull_request/closed.merged.app.json")
    del payload["installation"]
    assert isinstance(decide("pull_request", payload), Ignore)


def test_missing_repository_is_ignored() -> None:
    payload = load_payload("pull_request/closed.merged.app.json")
    del payload["repository"]
    assert isinstance(decide("pull_request", payload), Ignore)


# -- issues --------------------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", ["issues/opened.json", "issues/opened.with-empty-body.json"])
def test_opened_issue_is_work(relpath: str) -> None:
    decision = decide("issues", _with_installation(relpath))
    assert isinstance(decision, Work)
    assert (decision.event, decision.action, decision.target) == ("issues", "opened", 1)
    assert decision.repository == "Codertocat/Hello-World"
    assert isinstance(decision.job, TriageJob) and decision.job.number == 1
    assert "body" not in json.loads(dump_job(decision.job))


def test_an_issue_opened_in_an_organization_repository_is_work() -> None:
    decision = decide("issues", _with_installation("issues/opened.with-organization.json"))
    assert isinstance(decision, Work) and decision.repository.count("/") == 1


def test_opened_issue_fixture_without_installation_is_ignored() -> None:
    """The OW example has no `installation` (it was not delivered to an App)."""
    assert isinstance(decide("issues", load_payload("issues/opened.json")), Ignore)


def test_issue_opened_by_a_transfer_is_ignored() -> None:
    decision = decide("issues", _with_installation("issues/opened.with-transfer.json"))
    assert isinstance(decision, Ignore)
    assert "transfer" in decision.reason


def test_transfer_changes_do_not_travel() -> None:
    decision = decide("issues", _with_installation("issues/opened.json"))
    assert isinstance(decision, Work)
    assert "changes" not in json.loads(dump_job(decision.job))


@pytest.mark.parametrize("relpath", ["issues/edited.json", "issues/closed.app.json", "issues/assigned.json"])
def test_other_issue_actions_are_ignored(relpath: str) -> None:
    assert isinstance(decide("issues", _with_installation(relpath)), Ignore)


def test_issues_event_without_issue_is_malformed() -> None:
    payload = _with_installation("issues/opened.json")
    del payload["issue"]
    assert isinstance(decide("issues", payload), Malformed)


def test_issue_number_of_the_wrong_type_is_malformed() -> None:
    payload = _with_installation("issues/opened.json")
    payload["issue"]["number"] = "abc"
    assert isinstance(decide("issues", payload), Malformed)


# -- issue_comment -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "@hookwise summarize",
        "@hookwise triage",
        "@hookwise help",
        "@hookwise[bot] summarize",
        "Thanks!\n\n  @hookwise summarize please",
        "@HookWise SUMMARIZE",
        "first line\r\n@hookwise help\r\n",
    ],
)
def test_comment_with_a_command_line_is_work(body: str) -> None:
    decision = decide("issue_comment", _comment(body))
    assert isinstance(decision, Work)
    assert decision.target == 2
    assert decision.repository == "abc/def-ci-webhook-test"


def test_command_on_an_issue_is_work() -> None:
    decision = decide("issue_comment", _comment("@hookwise triage", "issue_comment/created.with-installation.json"))
    assert isinstance(decision, Work)
    assert decision.target == 1


@pytest.mark.parametrize(
    "body",
    [
        "trigger abc",  # the fixture's own body
        "please @hookwise summarize this",  # not at the start of a line
        "> @hookwise summarize",  # quoted
        "@hookwise",
        "",
        "email me at someone@hookwise summarize",
    ],
)
def test_comment_without_a_command_line_is_ignored(body: str) -> None:
    assert isinstance(decide("issue_comment", _comment(body)), Ignore)


@pytest.mark.parametrize(
    "payload",
    [
        load_payload("issue_comment/created.with-installation.json"),
        _with_installation("issue_comment/created.on-pull-request.json"),
        _with_installation("issue_comment/created.on-pull-request.2.json"),
    ],
)
def test_real_comments_without_commands_are_ignored(payload: dict[str, Any]) -> None:
    decision = decide("issue_comment", payload)
    assert isinstance(decision, Ignore)
    assert "no command" in decision.reason


def test_comment_with_null_body_is_ignored() -> None:
    payload = _comment("")
    payload["comment"]["body"] = None
    assert isinstance(decide("issue_comment", payload), Ignore)


def test_command_by_a_bot_is_ignored() -> None:
    payload = _comment("@hookwise summarize")
    payload["comment"]["user"]["type"] = "Bot"
    decision = decide("issue_comment", payload)
    assert isinstance(decision, Ignore)
    assert "bot" in decision.reason


def test_command_by_a_bot_login_is_ignored() -> None:
    payload = _comment("@hookwise summarize")
    payload["comment"]["user"]["login"] = "hookwise[bot]"
    assert isinstance(decide("issue_comment", payload), Ignore)


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_edited_or_deleted_command_is_ignored(action: str) -> None:
    payload = _comment("@hookwise summarize")
    payload["action"] = action
    assert isinstance(decide("issue_comment", payload), Ignore)


@pytest.mark.parametrize("missing", ["comment", "issue"])
def test_issue_comment_without_comment_or_issue_is_malformed(missing: str) -> None:
    payload = _comment("@hookwise summarize")
    del payload[missing]
    assert isinstance(decide("issue_comment", payload), Malformed)


def test_comment_without_user_is_malformed() -> None:
    payload = _comment("@hookwise summarize")
    del payload["comment"]["user"]
    assert isinstance(decide("issue_comment", payload), Malformed)


def test_comment_without_installation_is_ignored() -> None:
    payload = load_payload("issue_comment/created.on-pull-request.json")
    payload["comment"]["body"] = "@hookwise summarize"
    assert isinstance(decide("issue_comment", payload), Ignore)


# -- everything else -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "relpath"),
    [
        ("ping", "ping/app-hook.json"),
        ("ping", "ping/repository-hook.json"),
        ("ping", "ping/organization-hook.json"),
        ("installation", "installation/created.json"),
        ("installation_repositories", "installation_repositories/added.json"),
        ("push", "push/with-installation.json"),
        ("push", "push/payload.json"),
        ("label", "label/created.json"),
    ],
)
def test_other_events_are_ignored(event: str, relpath: str) -> None:
    assert isinstance(decide(event, load_payload(relpath)), Ignore)


def test_unknown_event_is_ignored_whatever_the_payload() -> None:
    assert isinstance(decide("made_up_event", {}), Ignore)
    assert isinstance(decide("made_up_event", load_payload("pull_request/closed.merged.app.json")), Ignore)


def test_acknowledged_events_are_ignored_even_when_odd() -> None:
    assert isinstance(decide("ping", {"zen": 1}), Ignore)
    assert isinstance(decide("installation", {}), Ignore)


def test_decide_does_not_mutate_the_payload() -> None:
    payload = load_payload("pull_request/closed.merged.app.json")
    before = json.dumps(payload, sort_keys=True)
    decide("pull_request", payload)
    assert json.dumps(payload, sort_keys=True) == before


@pytest.mark.parametrize(
    "body",
    [
        "@hookwise helpful",
        "@hookwise summarise",
        "@hookwise summarise-all",  # an unknown word: the worker answers with help
        "hello <!-- a\n--> @hookwise summarize",  # the comment ends before the command on its line
    ],
)
def test_a_bare_unknown_word_or_the_alias_is_queued_for_the_help_reply(body: str) -> None:
    assert isinstance(decide("issue_comment", _comment(body)), Work)


@pytest.mark.parametrize("body", ["- @hookwise triage", "<!-- x -->@hookwise summarize"])
def test_the_web_and_the_worker_read_commands_with_one_grammar(body: str) -> None:
    """A list item, or a line inside an HTML block, is no command to the worker: the web drops it too."""
    assert parse_commands(body, "hookwise") == []
    assert isinstance(decide("issue_comment", _comment(body)), Ignore)


@pytest.mark.parametrize("relpath", ["issues/labeled.json", "issues/unlabeled.json"])
def test_a_persons_label_change_on_an_issue_is_work(relpath: str) -> None:
    decision = decide("issues", _with_installation(relpath))
    assert isinstance(decision, Work) and isinstance(decision.job, LabelJob)
    payload = load_payload(relpath)
    assert decision.job.label == payload["label"]["name"]
    assert decision.job.added is (payload["action"] == "labeled")
    assert decision.job.actor.login == payload["sender"]["login"]


def test_a_bots_label_change_is_ignored() -> None:
    payload = _with_installation("issues/labeled.json")
    payload["sender"]["login"], payload["sender"]["type"] = "hookwise[bot]", "Bot"
    decision = decide("issues", payload)
    assert isinstance(decision, Ignore) and "bot" in decision.reason


def test_push_changing_the_config_on_the_default_branch_is_work() -> None:
    payload = _with_installation("push/with-installation.json")
    branch = payload["repository"]["default_branch"]
    payload["ref"] = f"refs/heads/{branch}"
    payload["commits"] = [{"added": [], "modified": [".github/hookwise.yml"], "removed": []}]
    decision = decide("push", payload)
    assert isinstance(decision, Work) and isinstance(decision.job, ConfigJob)
    assert decision.job.repository == payload["repository"]["full_name"]
    payload["commits"] = [{"added": ["README.md"], "modified": [], "removed": []}]
    assert isinstance(decide("push", payload), Ignore)
    payload["ref"] = "refs/heads/some-feature"
    payload["commits"] = [{"added": [], "modified": [".github/hookwise.yml"], "removed": []}]
    assert isinstance(decide("push", payload), Ignore)  # a branch must not change the bot's config


def test_every_job_type_is_in_the_union_and_has_one_handler() -> None:
    """An event is one route (ROUTES), its job type (JOB_TYPES, in the `Job` union) and one handler
    (bot/worker/dispatch.py: HANDLERS): a type without a handler fails here, not in a worker."""
    from typing import get_args

    from bot.core.ingress.job import JOB_TYPES, Job
    from bot.worker.dispatch import HANDLERS

    union = set(get_args(get_args(Job)[0]))
    assert union == set(JOB_TYPES)
    assert set(HANDLERS) == set(JOB_TYPES)
