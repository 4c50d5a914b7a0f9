"""`/postmortem`: changes are recorded before the ack with the messages they imply (outbox jobs:
the postmortem's message in the channel, the note in its thread, the new owner's DM);
generation is a slow-lane job, one per incident at a time (no Bolt)."""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.capture.gaps import CAPTURE_NOTICE_MARK, notice, pending_gaps
from bot.confluence.gateway import ConfluenceFailure
from bot.core import outbox
from bot.core.errors import UserError
from bot.core.outbox_worker import Continue, JobRun, JobSpec, PermanentFailure, RetryLater
from bot.incidents.service import latest_incident_in_channel
from bot.postmortem import blocks, pages
from bot.postmortem.generate import check_generation, generate_postmortem
from bot.postmortem.service import (
    attach,
    incident_for_postmortem,
    postmortem_of,
    remove,
    require_postmortem,
    set_owner,
    set_status,
)
from bot.services import Services
from bot.slack.once import post_once
from bot.slack.origin import Origin
from bot.slack.posting import channel_key, client_or_fail
from bot.slack.users import require_user
from storage.models import CaptureGap, Incident, Postmortem, PostmortemStatus, PostmortemVersion

log = logging.getLogger("postmortem_bot.postmortem")

GENERATE = "postmortem.generate"
PUBLISH_PAGE = "postmortem.publish_page"  # Confluence: a recorded version onto its page
PAGE_PROPERTIES = "postmortem.page_properties"  # Confluence: status/owner into the properties
# A page publication that keeps failing for passing reasons (Confluence down) is retried with
# the outbox's backoff, then every RETRY_SLOWLY, until GIVE_UP_AFTER: nothing is lost meanwhile.
QUICK_ATTEMPTS = 8
RETRY_SLOWLY = timedelta(minutes=15)
GIVE_UP_AFTER = timedelta(hours=24)
REFRESH_MESSAGE = "postmortem.refresh_message"
NOTE = "postmortem.note"
OWNER_DM = "postmortem.owner_dm"

GENERATING = (
    "Writing the postmortem: reading the channel, the timeline and the follow-ups… it will "
    "appear here in a moment."
)
BUSY = (
    "A postmortem for {key} is being generated right now; it will appear in the channel in a "
    "moment. Run the command again once it has, if you still need to."
)


def generation_key(incident: Incident) -> str:
    """One generation (or attach) per incident at a time."""
    return f"postmortem:{incident.team_id}:{incident.id}"


# -- recording (before the ack) -----------------------------------------------------------------


def request_generation(
    services: Services,
    origin: Origin,
    *,
    template: str | None,
    force: bool,
    reply_to: str | None,
) -> str:
    """Check, then write the generation down as a job; the private answer."""
    check_generation(services.db, team_id=origin.team_id, channel_id=origin.channel_id, force=force)
    with services.db.session() as session:
        incident = incident_for_postmortem(session, origin.team_id, origin.channel_id)
        try:
            outbox.enqueue(
                session,
                GENERATE,
                {
                    "channel": origin.channel_id,
                    "user": origin.user_id,
                    "template": template,
                    "force": force,
                    "reply_to": reply_to,
                },
                team_id=origin.team_id,
                lane=outbox.Lane.SLOW,
                dedupe_key=generation_key(incident),
            )
        except outbox.Busy:
            raise UserError(BUSY.format(key=incident.key)) from None
    return GENERATING


def regenerate_after_capture(session: Session, gap: CaptureGap) -> None:
    """Messages the bot had missed are in: a postmortem generated while they were still being
    fetched is generated again (its owner's Draft or In Review; never a Completed one, nor a
    document written elsewhere)."""
    incident = latest_incident_in_channel(session, gap.team_id, gap.channel_id)
    postmortem = postmortem_of(session, incident) if incident is not None else None
    if incident is None or postmortem is None or postmortem.attached:
        return
    # The postmortem's row is the meeting point with a generation ending at the same moment
    # (see _generated): whichever commits second sees what the other did.
    session.refresh(postmortem, with_for_update=True)
    if outbox.live_job(session, generation_key(incident)):
        return  # a generation is under way: it regenerates at its end if the gap came in
    if postmortem.status is PostmortemStatus.COMPLETED or postmortem.version == 0:
        return
    generated = session.scalar(
        select(func.max(PostmortemVersion.generated_at)).where(
            PostmortemVersion.postmortem_id == postmortem.id
        )
    )
    if generated is None or generated < gap.created_at:
        return  # generated before the gap was known: nothing said it was incomplete
    try:
        outbox.enqueue(
            session,
            GENERATE,
            {
                "channel": incident.channel_id,
                "user": postmortem.owner_id,
                "template": postmortem.template,
                "force": False,
                "reply_to": None,
            },
            team_id=incident.team_id,
            lane=outbox.Lane.SLOW,
            dedupe_key=generation_key(incident),
        )
    except outbox.Busy:
        pass  # a generation is under way; it reads what is stored by now


def enqueue_refresh(session: Session, postmortem: Postmortem) -> None:
    """Post the postmortem's message in the incident channel, or update it in place."""
    incident = postmortem.incident
    outbox.enqueue(
        session,
        REFRESH_MESSAGE,
        {"postmortem_id": postmortem.id},
        team_id=postmortem.team_id,
        ordering_key=channel_key(incident.team_id, incident.channel_id),
    )


def enqueue_note(session: Session, postmortem: Postmortem, text: str) -> None:
    """Say `text` in the thread of the postmortem's message (after any pending refresh)."""
    incident = postmortem.incident
    outbox.enqueue(
        session,
        NOTE,
        {"postmortem_id": postmortem.id, "text": text},
        team_id=postmortem.team_id,
        ordering_key=channel_key(incident.team_id, incident.channel_id),
    )


def change_status(
    services: Services,
    origin: Origin,
    status: PostmortemStatus,
    postmortem_id: int | None = None,
) -> str:
    """Draft → In Review → Completed, by command (this channel's) or button (`postmortem_id`);
    the private confirmation."""
    user = origin.user_id
    with services.db.session() as session:
        postmortem = _postmortem(session, origin, postmortem_id)
        previous = set_status(
            session,
            postmortem,
            status,
            by=user,
            admins=services.settings.admins,
            now=services.clock(),
        )
        key = postmortem.incident.key
        enqueue_refresh(session, postmortem)
        enqueue_properties(session, postmortem)
        enqueue_note(
            session,
            postmortem,
            f"{key} postmortem: {previous.label} → *{status.label}* (by <@{user}>)",
        )
    return f"{key}'s postmortem is now *{status.label}* (it was {previous.label})."


def change_owner(
    services: Services,
    client: WebClient,
    origin: Origin,
    owner: str,
    postmortem_id: int | None = None,
) -> str:
    """A new owner, by command or the message's picker; the owner gets a DM. Someone Slack
    does not know in this workspace is refused before anything is saved. The private
    confirmation."""
    user, now = origin.user_id, services.clock()
    require_user(services.db, client, team_id=origin.team_id, user_id=owner, now=now)
    with services.db.session() as session:
        postmortem = _postmortem(session, origin, postmortem_id)
        set_owner(session, postmortem, owner, by=user, now=now)
        key = postmortem.incident.key
        enqueue_refresh(session, postmortem)
        enqueue_properties(session, postmortem)
        enqueue_note(
            session, postmortem, f"{key} postmortem owner is now <@{owner}> (set by <@{user}>)"
        )
        outbox.enqueue(
            session,
            OWNER_DM,
            {"owner": owner, "text": blocks.owner_dm(postmortem.incident, postmortem, by=user)},
            team_id=postmortem.team_id,
        )
    return f"<@{owner}> now owns {key}'s postmortem; I'm sending them a DM."


def attach_document(services: Services, origin: Origin, url: str) -> str:
    """`/postmortem attach <url>`: link a postmortem written elsewhere (not during a
    generation of the same incident); the private confirmation."""
    with services.db.session() as session:
        incident = incident_for_postmortem(session, origin.team_id, origin.channel_id)
        if outbox.live_job(session, generation_key(incident)):
            raise UserError(BUSY.format(key=incident.key))
        postmortem = attach(session, incident, url, by=origin.user_id, now=services.clock())
        enqueue_refresh(session, postmortem)
        linked, status = postmortem.document_url, postmortem.status.label
    return (
        f"Linked {incident.key}'s postmortem to {linked} (status {status}). "
        "`/postmortem generate --force` would replace the link with a generated one."
    )


def show(services: Services, origin: Origin) -> str:
    """`/postmortem show`: status, owner and link."""
    with services.db.session() as session:
        incident = incident_for_postmortem(session, origin.team_id, origin.channel_id)
        postmortem = require_postmortem(session, incident)
        return blocks.summary_line(incident, postmortem)


def remove_document(services: Services, origin: Origin) -> str:
    """`/postmortem remove`: unlink (the document itself is never deleted; a Completed one is
    refused); the private answer."""
    with services.db.session() as session:
        incident = incident_for_postmortem(session, origin.team_id, origin.channel_id)
        postmortem = require_postmortem(session, incident)
        was = postmortem.status
        url = remove(session, postmortem, by=origin.user_id, now=services.clock())
        enqueue_refresh(session, postmortem)
        key, now_status = incident.key, postmortem.status
    kept = f" The document is untouched: {url}" if url else ""
    draft = (
        f" It is a {now_status.label} again (it was {was.label})." if was is not now_status else ""
    )
    return (
        f"Unlinked the postmortem from {key}.{kept}{draft} `/postmortem generate` writes a new one."
    )


def _postmortem(session: Session, origin: Origin, postmortem_id: int | None) -> Postmortem:
    if postmortem_id is None:
        incident = incident_for_postmortem(session, origin.team_id, origin.channel_id)
        return require_postmortem(session, incident)
    postmortem = session.get(Postmortem, postmortem_id)
    if postmortem is None or postmortem.team_id != origin.team_id:
        raise UserError("That postmortem belongs to another workspace, or no longer exists.")
    return postmortem


# -- jobs (after the ack) -----------------------------------------------------------------------


def run_generate(services: Services, run: JobRun) -> None:
    job, payload = run.job, run.job.payload
    client = client_or_fail(services.client_for, job.team_id)
    result = generate_postmortem(
        db=services.db,
        client=client,
        settings=services.settings,
        clock=services.clock,
        team_id=job.team_id,
        channel_id=str(payload["channel"]),
        user_id=str(payload["user"]),
        template=payload.get("template"),
        force=bool(payload.get("force")),
        on_saved=lambda session, saved: _generated(
            session, saved, run, payload, destination_of(services, saved)
        ),
    )
    if result.published.pending:
        return  # the page job says where it is once Confluence has it
    services.replies.respond(
        payload.get("reply_to"),
        {
            "text": blocks.generated_note(result.key, result.version, result.published),
            "response_type": "ephemeral",
        },
    )


def _generated(
    session: Session,
    postmortem: Postmortem,
    run: JobRun,
    payload: dict[str, object],
    where: str = "canvas",
) -> None:
    """With the new version: the channel message's refresh, and the job done (one commit).
    If messages the bot had missed came in while it was being written (a gap the document says
    is still being fetched is now in), it is written once more."""
    session.refresh(postmortem, with_for_update=True)  # see regenerate_after_capture
    run.finish_in(session)
    enqueue_refresh(session, postmortem)
    if where == "confluence":  # published by its own job, from the version just recorded
        enqueue_publish(session, postmortem, payload.get("reply_to"))
    incident = postmortem.incident
    latest = session.scalar(
        select(PostmortemVersion.markdown)
        .where(PostmortemVersion.postmortem_id == postmortem.id)
        .order_by(PostmortemVersion.version.desc())
        .limit(1)
    )
    still = notice(pending_gaps(session, incident.team_id, incident.channel_id))
    if latest is None or CAPTURE_NOTICE_MARK not in latest or still is not None:
        return
    try:
        outbox.enqueue(
            session,
            GENERATE,
            {**payload, "reply_to": None},
            team_id=incident.team_id,
            lane=outbox.Lane.SLOW,
            dedupe_key=generation_key(incident),
        )
    except outbox.Busy:
        pass


def destination_of(services: Services, postmortem: Postmortem) -> str:
    """Where a postmortem written with its template is published (the settings decide)."""
    return services.settings.destination_for(postmortem.template or "")


# -- Confluence pages (deferred publishing) -------------------------------------------------------


def page_key(postmortem: Postmortem) -> str:
    """One page job at a time per postmortem, in order; one publication waiting at most."""
    return f"confluence:{postmortem.team_id}:{postmortem.id}"


def enqueue_publish(session: Session, postmortem: Postmortem, notify: object) -> None:
    """Publish the newest version to Confluence (a waiting publication will read it)."""
    try:
        outbox.enqueue(
            session,
            PUBLISH_PAGE,
            {"postmortem_id": postmortem.id, "notify": notify},
            team_id=postmortem.team_id,
            lane=outbox.Lane.SLOW,
            ordering_key=page_key(postmortem),
            dedupe_key=page_key(postmortem),
        )
    except outbox.Busy:
        pass  # one is waiting; it publishes whatever is newest when it runs


def enqueue_properties(session: Session, postmortem: Postmortem) -> None:
    """The page's properties (status, owner) follow a change made in Slack."""
    if not postmortem.confluence_page_id:
        return  # no page yet: the publication that makes it writes them
    outbox.enqueue(
        session,
        PAGE_PROPERTIES,
        {"postmortem_id": postmortem.id},
        team_id=postmortem.team_id,
        lane=outbox.Lane.SLOW,
        ordering_key=page_key(postmortem),
    )


def _tell(services: Services, notify: object, text: str) -> None:
    services.replies.respond(
        notify if isinstance(notify, str) else None, {"text": text, "response_type": "ephemeral"}
    )


def _page_failure(services: Services, run: JobRun, failure: ConfluenceFailure) -> Exception:
    """What the outbox should do with a failed page job: retry (soon, then slowly) or give up,
    telling the person who generated it once, at the first failure."""
    job = run.job
    if not failure.passing:
        return PermanentFailure(failure.reason)
    if job.attempts == 1:
        _tell(
            services,
            job.payload.get("notify"),
            f"The postmortem is generated and saved, but not in Confluence yet: {failure.reason} "
            "I'll publish it as soon as Confluence takes it; no need to run the command again.",
        )
    age = outbox.utc_now() - job.created_at
    if age > GIVE_UP_AFTER:
        return PermanentFailure(f"{failure.reason} (still failing after {GIVE_UP_AFTER})")
    wait = timedelta(seconds=failure.retry_after) if failure.retry_after else None
    if job.attempts >= QUICK_ATTEMPTS:
        log.warning(
            "Confluence page job %s: %s; next try in %s", job.id, failure.reason, RETRY_SLOWLY
        )
        return Continue(failure.reason, max(wait or RETRY_SLOWLY, RETRY_SLOWLY))
    return RetryLater(failure.reason, wait)


def run_publish_page(services: Services, run: JobRun) -> None:
    job = run.job
    postmortem_id = int(job.payload["postmortem_id"])
    client = client_or_fail(services.client_for, job.team_id)
    try:
        version, published = pages.publish_newest(services, client, postmortem_id)
    except ConfluenceFailure as failure:
        raise _page_failure(services, run, failure) from None
    with services.db.session() as session:
        saved = session.get_one(Postmortem, postmortem_id)
        session.refresh(saved, with_for_update=True)
        saved.confluence_page_id, saved.confluence_version = published.id, version
        saved.document_url = published.url
        saved.canvas_id = saved.file_id = None  # the postmortem lives in Confluence now
        run.finish_in(session)
        enqueue_refresh(session, saved)
        if saved.version > version:  # generated again while this was being written
            enqueue_publish(session, saved, None)
        key = saved.incident.key
    log.info(
        "postmortem %s published to Confluence page %s (version %s)",
        postmortem_id,
        published.id,
        version,
    )
    _tell(services, job.payload.get("notify"), blocks.generated_note(key, version, published))


def run_page_properties(services: Services, run: JobRun) -> None:
    client = client_or_fail(services.client_for, run.job.team_id)
    try:
        pages.refresh_properties(services, client, int(run.job.payload["postmortem_id"]))
    except ConfluenceFailure as failure:
        raise _page_failure(services, run, failure) from None


def publish_failed(services: Services, job: outbox.Job, reason: str) -> None:
    _tell(
        services,
        job.payload.get("notify"),
        f":warning: The postmortem is generated and saved (`/postmortem show`), but I couldn't "
        f"publish it to Confluence: {reason}",
    )


def generation_failed(services: Services, job: outbox.Job, reason: str) -> None:
    """Tell the person who asked (a UserError's reason is written for them)."""
    services.replies.respond(
        job.payload.get("reply_to"),
        {"text": f"The postmortem was not generated: {reason}", "response_type": "ephemeral"},
    )


def run_refresh_message(services: Services, run: JobRun) -> None:
    job = run.job
    client = client_or_fail(services.client_for, job.team_id)
    with services.db.session() as session:
        postmortem = session.get_one(Postmortem, int(job.payload["postmortem_id"]))
        incident = postmortem.incident
        text, message = blocks.postmortem_message(incident, postmortem)
        channel, ts = incident.channel_id, postmortem.message_ts
    if ts:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=message)
        return
    posted = post_once(client, job, channel=channel, text=text, blocks=message)
    with services.db.session() as session:
        saved = session.get_one(Postmortem, postmortem.id)
        saved.message_channel_id, saved.message_ts = channel, posted
        run.finish_in(session)


def run_note(services: Services, run: JobRun) -> None:
    job = run.job
    client = client_or_fail(services.client_for, job.team_id)
    with services.db.session() as session:
        postmortem = session.get_one(Postmortem, int(job.payload["postmortem_id"]))
        channel, ts = postmortem.incident.channel_id, postmortem.message_ts
    post_once(client, job, channel=channel, text=str(job.payload["text"]), thread_ts=ts)


def run_owner_dm(services: Services, run: JobRun) -> None:
    job = run.job
    client = client_or_fail(services.client_for, job.team_id)
    dm = client.conversations_open(users=str(job.payload["owner"]))["channel"]["id"]
    post_once(client, job, channel=dm, text=str(job.payload["text"]))


def jobs(services: Services) -> list[JobSpec]:
    fast, slow = outbox.Lane.FAST, outbox.Lane.SLOW
    return [
        JobSpec(
            GENERATE,
            slow,
            lambda run: run_generate(services, run),
            on_dead=lambda job, reason: generation_failed(services, job, reason),
        ),
        JobSpec(
            PUBLISH_PAGE,
            slow,
            lambda run: run_publish_page(services, run),
            on_dead=lambda job, reason: publish_failed(services, job, reason),
        ),
        JobSpec(PAGE_PROPERTIES, slow, lambda run: run_page_properties(services, run)),
        JobSpec(REFRESH_MESSAGE, fast, lambda run: run_refresh_message(services, run)),
        JobSpec(NOTE, fast, lambda run: run_note(services, run)),
        JobSpec(OWNER_DM, fast, lambda run: run_owner_dm(services, run)),
    ]
