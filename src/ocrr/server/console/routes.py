"""The console's pages and the few JSON calls its script makes.

Every page checks the session's key on each request (a revoked key is logged out), every
POST checks the CSRF token and the request's origin, and every write checks the key's
``write`` scope in the namespace, whatever the page showed. Texts, labels, actors and
subjects are user data: templates print them through Jinja's autoescaping, and the script
puts them in the page with ``textContent`` only.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from ocrr.ledger.merkle import InclusionProof, leaf_hash
from ocrr.server.console import plots
from ocrr.server.console.ledger_index import LedgerIndexes
from ocrr.server.console.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Session,
    Sessions,
    clear_cookie,
    same,
    same_origin,
    set_cookie,
)
from ocrr.server.errors import (
    ApiError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from ocrr.server.keys import ApiKey
from ocrr.server.namespace import Namespace
from ocrr.server.review import QueuedPrediction, ReviewQueue, queues_of, recheck
from ocrr.server.schemas import (
    NAMESPACE_PATTERN,
    CorrectionItem,
    ErasureRequest,
    RevocationRequest,
    Short,
)
from ocrr.server.state import state_of

HERE = Path(__file__).resolve().parent
QUEUE_PAGE = 50
"""Queue items on the page at once (the script fetches more as they are reviewed)."""
LEDGER_PAGE = 50
NEIGHBOURS_SHOWN = 5
SUGGESTIONS = 5
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_ACTOR = TypeAdapter(Short)

router = APIRouter(include_in_schema=False)
NsPath = Annotated[str, PathParam(pattern=NAMESPACE_PATTERN)]


# -- templates -----------------------------------------------------------------------------
def _utc(ns: int | None) -> str:
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = _utc
    env.filters["pct"] = _pct
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["plural"] = lambda n, word: f"{n:,} {word}{'' if n == 1 else 's'}"
    return env


TEMPLATES = _environment()


@dataclass
class Viewer:
    session: Session
    key: ApiKey

    @property
    def actor(self) -> str:
        return self.session.actor or self.key.name or f"key {self.key.key_id}"

    def can_write(self, ns: str) -> bool:
        return self.key.allows("write", ns)


class ConsoleState:
    def __init__(self) -> None:
        self.sessions = Sessions()
        self.indexes = LedgerIndexes()


class PageError(Exception):
    """A page that cannot be shown: an error page, or a redirect (to the login form)."""

    def __init__(self, status: int, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.location = location


def _console(request: Request) -> ConsoleState:
    return request.app.state.console


def render(request: Request, template: str, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    if exc.location is not None:
        return RedirectResponse(exc.location, status_code=303, headers=SECURITY_HEADERS)
    return render(request, "error.html", status=exc.status, message=exc.message, viewer=None,
                  ns=None)


def install(app: FastAPI) -> None:
    app.state.console = ConsoleState()
    queues_of(app)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(PageError, _page_error)


# -- who is asking -------------------------------------------------------------------------
async def _viewer(request: Request) -> Viewer | None:
    console = _console(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.get(sid)
    if session is None:
        return None
    state = state_of(request)
    key = await state.keys.lookup(session.token)
    if key is None:
        console.sessions.end(sid)  # the key was revoked
        return None
    wait = state.limiter.check(key.key_id)
    if wait is not None:
        raise RateLimited("rate limit exceeded", retry_after=wait)
    return Viewer(session, key)


async def page_viewer(request: Request) -> Viewer:
    viewer = await _viewer(request)
    if viewer is None:
        raise PageError(401, "log in", location="/login")
    return viewer


async def _open(request: Request, ns: str) -> Namespace:
    namespaces = state_of(request).namespaces
    found = namespaces.cached(ns)
    if found is None:
        found = await run_in_threadpool(namespaces.get, ns)
    return found


async def page_namespace(request: Request, ns: str) -> tuple[Viewer, Namespace]:
    viewer = await page_viewer(request)
    if not viewer.key.allows("read", ns):
        raise PageError(403, "This key does not give access to that namespace.")
    try:
        return viewer, await _open(request, ns)
    except NotFound:
        raise PageError(404, f"No namespace {ns}.") from None


def _check_post(request: Request, session: Session, token: str | None) -> None:
    if not same_origin(request):
        raise Forbidden("this request came from another site")
    if not same(token, session.csrf):
        raise Forbidden("missing or wrong CSRF token: reload the page")


async def api_namespace(request: Request, ns: str, scope: str) -> tuple[Viewer, Namespace]:
    """For the script's calls (JSON errors): a session, a CSRF token on POST, the scope."""
    viewer = await _viewer(request)
    if viewer is None:
        raise Unauthenticated("log in again: the session ended")
    if request.method == "POST":
        _check_post(request, viewer.session, request.headers.get("x-csrf-token"))
    if not viewer.key.allows(scope, ns):
        raise Forbidden(f"this key does not grant {scope} access here"
                        + (" (it is read-only)" if scope == "write" else ""))
    return viewer, await _open(request, ns)


async def _form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "")
    if not kind.startswith("application/x-www-form-urlencoded"):
        raise PageError(415, "Expected a form.")
    body = (await request.body()).decode("utf-8", "replace")
    try:
        return dict(parse_qsl(body, keep_blank_values=True, max_num_fields=20))
    except ValueError:
        raise PageError(400, "Too many form fields.") from None


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("expected a JSON object")
    return data


async def form_post(request: Request, ns: str, scope: str) -> tuple[Viewer, Namespace,
                                                                    dict[str, str]]:
    viewer, namespace = await page_namespace(request, ns)
    form = await _form(request)
    try:
        _check_post(request, viewer.session, form.get("csrf"))
    except ApiError as err:
        raise PageError(403, err.message) from None
    if not viewer.key.allows(scope, ns):
        raise PageError(403, "This key is read-only: it cannot change the ledger.")
    return viewer, namespace, form


async def _visible_namespaces(request: Request, key: ApiKey) -> list[str]:
    if key.scope == "admin":
        records = await run_in_threadpool(state_of(request).registry.list_namespaces)
        return [r.name for r in records]
    return [key.namespace] if key.namespace else []


async def _context(request: Request, viewer: Viewer, ns: str | None,
                   tab: str) -> dict[str, Any]:
    return {"viewer": viewer, "ns": ns, "tab": tab, "csrf": viewer.session.csrf,
            "namespaces": await _visible_namespaces(request, viewer.key),
            "can_write": ns is not None and viewer.can_write(ns)}


def _problem(err: ValidationError) -> str:
    return "; ".join(e.get("msg", "invalid") for e in err.errors()[:3])


# -- logging in and out --------------------------------------------------------------------
@router.get("/")
async def home(request: Request) -> Response:
    viewer = await page_viewer(request)
    names = await _visible_namespaces(request, viewer.key)
    if len(names) == 1:
        return RedirectResponse(f"/ns/{names[0]}/queue", status_code=303)
    return render(request, "home.html", **await _context(request, viewer, None, "home"))


def _login_form(request: Request, status: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status=status, login_csrf=token, error=error,
                      viewer=None, ns=None)
    set_cookie(request, response, LOGIN_COOKIE, token, path="/login")
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    if await _viewer(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    if not same_origin(request) or not same(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
        return _login_form(request, 403, "The form expired: please try again.")
    state = state_of(request)
    token = form.get("key", "").strip()
    key = await state.keys.lookup(token) if token else None
    if key is None:
        wait = state.failures.check(request.client.host if request.client else "unknown")
        state.metrics.refused.inc("unauthenticated")
        if wait is not None:
            return _login_form(request, 429, "Too many attempts: wait a moment.")
        return _login_form(request, 401, "Unknown or revoked API key.")
    if key.scope not in ("read", "write", "admin"):
        return _login_form(request, 403, "This key cannot use the console (a metrics key).")
    actor = form.get("actor", "").strip() or None
    if actor is not None:
        try:
            actor = _ACTOR.validate_python(actor)
        except ValidationError as err:
            return _login_form(request, 422, f"Your name: {_problem(err)}")
    session = _console(request).sessions.create(token, actor)
    response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
    set_cookie(request, response, SESSION_COOKIE, session.sid)
    clear_cookie(request, response, LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    console = _console(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.get(sid)
    if session is not None and same_origin(request) and same(form.get("csrf"), session.csrf):
        console.sessions.end(sid)
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


# -- the queue -----------------------------------------------------------------------------
def _suggestions(item: QueuedPrediction, labels: list[str]) -> list[str]:
    """Other labels worth a one-key correction: the neighbours', nearest first."""
    out: list[str] = []
    for n in item.answer.neighbours:
        if n.label != item.label and n.label not in out and n.label in labels:
            out.append(n.label)
        if len(out) == SUGGESTIONS:
            break
    return out


def _why(item: QueuedPrediction) -> list[tuple[str, int]]:
    """The shown neighbours' labels with counts, the voters' if any voted: the reason at a
    glance (the full table shows on the selected item)."""
    shown = item.answer.neighbours[:NEIGHBOURS_SHOWN]
    counts: dict[str, int] = {}
    for n in [n for n in shown if n.voted] or shown:
        counts[n.label] = counts.get(n.label, 0) + 1
    return list(counts.items())


async def _queue_view(request: Request, namespace: Namespace, queue: ReviewQueue,
                      limit: int, *, recheck_first: bool) -> dict[str, Any]:
    """The page shows the queue as it stands (fast); the script's refresh, a second later
    and then every few seconds, rechecks it first (after corrections made elsewhere)."""
    if recheck_first:
        await run_in_threadpool(recheck, queue, namespace, wait=False)
    items = queue.pending(limit)
    labels = await run_in_threadpool(namespace.labels)
    return {"items": items, "queued": len(queue), "labels": labels,
            "suggestions": {i.id: _suggestions(i, labels) for i in items},
            "why": {i.id: _why(i) for i in items},
            "shown": NEIGHBOURS_SHOWN}


@router.get("/ns/{ns}/queue")
async def queue_page(request: Request, ns: NsPath) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    view = await _queue_view(request, namespace, queues_of(request.app)[ns], QUEUE_PAGE,
                             recheck_first=False)
    return render(request, "queue.html", **await _context(request, viewer, ns, "queue"),
                  **view)


@router.get("/ns/{ns}/queue/items")
async def queue_items(request: Request, ns: NsPath, limit: int = QUEUE_PAGE) -> Response:
    viewer, namespace = await api_namespace(request, ns, "read")
    limit = max(1, min(limit, 500))
    view = await _queue_view(request, namespace, queues_of(request.app)[ns], limit,
                             recheck_first=True)
    return render(request, "_queue_items.html", headers={"X-Queue-Count": str(view["queued"])},
                  ns=ns, can_write=viewer.can_write(ns), **view)


@router.post("/ns/{ns}/queue/{item_id}")
async def review(request: Request, ns: NsPath, item_id: int) -> JSONResponse:
    """Accept (the answer was right) or correct (another label) one queued prediction."""
    viewer, namespace = await api_namespace(request, ns, "write")
    body = await _json(request)
    queue = queues_of(request.app)[ns]
    action = body.get("action")
    if action not in ("accept", "correct"):
        raise InvalidRequest("action must be accept or correct")
    item = queue.take(item_id)
    if item is None:
        raise NotFound("that prediction is no longer queued (reviewed already?)")
    try:
        label = item.label if action == "accept" else body.get("label")
        try:
            correction = CorrectionItem(text=item.text, label=label)
        except ValidationError as err:
            raise InvalidRequest(f"label: {_problem(err)}") from None
        receipt = (await run_in_threadpool(
            lambda: namespace.correct([correction], actor=viewer.actor,
                                      vectors=item.vector[None])
        ))[0]
    except BaseException:
        queue.put_back(item)
        raise
    state_of(request).metrics.corrections.inc(ns)
    queue.reviewed(item, correction.label, seq=receipt.seq, accepted=action == "accept",
                   actor=viewer.actor)
    changes = await run_in_threadpool(recheck, queue, namespace)
    return JSONResponse({
        "seq": receipt.seq, "label": receipt.label, "new_label": receipt.new_label,
        "entry_hash": receipt.entry_hash, "ledger_size": receipt.ledger_size,
        "accepted": action == "accept", "changed": [c.to_dict() for c in changes],
        "queued": len(queue),
    }, status_code=201, headers={"Cache-Control": "no-store"})


@router.post("/ns/{ns}/try")
async def try_text(request: Request, ns: NsPath) -> JSONResponse:
    """Predict a text for the reviewer (not queued, not counted as a prediction)."""
    viewer, namespace = await api_namespace(request, ns, "read")
    body = await _json(request)
    try:
        text = CorrectionItem(text=body.get("text"), label="x").text
    except ValidationError as err:
        raise InvalidRequest(f"text: {_problem(err)}") from None
    vectors = await state_of(request).batcher.encode([text])
    answer = (await run_in_threadpool(namespace.explain_vectors, vectors))[0]
    return JSONResponse(answer.model_dump(), headers={"Cache-Control": "no-store"})


# -- the ledger ----------------------------------------------------------------------------
def _when(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
            return int(moment.timestamp() * 1e9)
        except ValueError:
            continue
    raise ValueError(f"{what}: expected a date (YYYY-MM-DD, optionally THH:MM), UTC")


def _entries_at(namespace: Namespace, seqs: list[int]) -> dict[int, Any]:
    out = {}
    for seq in seqs:
        page = namespace.entries(seq, 1)
        if page.entries:
            out[seq] = page.entries[0]
    return out


@router.get("/ns/{ns}/ledger")
async def ledger_page(request: Request, ns: NsPath) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    q = request.query_params
    filters = {name: q.get(name, "").strip() for name in
               ("label", "actor", "subject", "kind", "since", "until")}
    error = None
    try:
        since, until = _when(filters["since"], "from"), _when(filters["until"], "until")
        if until is not None and len(filters["until"]) == 10:
            until += 86_400 * 10**9  # a day given: through its end
        before = int(q["before"]) if q.get("before", "").isdigit() else None
    except ValueError as err:
        error, since, until, before = str(err), None, None, None
    index = _console(request).indexes[ns]
    await run_in_threadpool(index.update, namespace)
    match = index.find(label=filters["label"] or None, actor=filters["actor"] or None,
                       subject=filters["subject"] or None, kind=filters["kind"] or None,
                       since_ns=since, until_ns=until, before=before, limit=LEDGER_PAGE)
    entries = await run_in_threadpool(_entries_at, namespace, [r.seq for r in match.rows])
    head = await run_in_threadpool(namespace.tree_head)
    labels = await run_in_threadpool(namespace.labels)
    kept = {k: v for k, v in filters.items() if v}
    older = f"?{urlencode({**kept, 'before': match.older})}" if match.older is not None else None
    return render(request, "ledger.html", **await _context(request, viewer, ns, "ledger"),
                  rows=match.rows, entries=entries, total=match.total, filters=filters,
                  error=error, head=head, older=older, newest=f"?{urlencode(kept)}",
                  paged=before is not None, labels=labels, actors=index.actors(),
                  notice=q.get("notice"))


def _proof_view(namespace: Namespace, seq: int) -> dict[str, Any]:
    head = namespace.tree_head()
    page = namespace.entries(seq, 1)
    if not page.entries:
        raise PageError(404, f"No entry {seq} (the ledger has {page.size}).")
    entry = page.entries[0]
    proof = namespace.prove(seq, head.size)
    checked = InclusionProof.from_dict(proof.model_dump())
    leaf_ok = leaf_hash(bytes.fromhex(entry.entry_hash)) == checked.leaf_hash
    return {"entry": entry, "proof": proof, "head": head,
            "proof_ok": checked.verify() and leaf_ok and proof.root_hash == head.root_hash}


@router.get("/ns/{ns}/ledger/{seq}")
async def entry_page(request: Request, ns: NsPath, seq: int) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    if seq < 0:
        raise PageError(404, "No such entry.")
    view = await run_in_threadpool(_proof_view, namespace, seq)
    return render(request, "entry.html", **await _context(request, viewer, ns, "ledger"),
                  **view, notice=request.query_params.get("notice"), error=None)


@router.post("/ns/{ns}/ledger/{seq}/revoke")
async def revoke(request: Request, ns: NsPath, seq: int) -> Response:
    viewer, namespace, form = await form_post(request, ns, "write")
    error = None
    try:
        body = RevocationRequest(seq=seq, reason=form.get("reason", ""), actor=viewer.actor)
        receipt = await run_in_threadpool(
            lambda: namespace.revoke(body.seq, body.reason, actor=body.actor))
    except ValidationError as err:
        error = f"Reason: {_problem(err)}"
    except ApiError as err:
        error = err.message
    if error is None:
        notice = f"Entry {seq} revoked: revocation entry {receipt.seq} appended."
        return RedirectResponse(f"/ns/{ns}/ledger/{seq}?{urlencode({'notice': notice})}",
                                status_code=303, headers=SECURITY_HEADERS)
    view = await run_in_threadpool(_proof_view, namespace, seq)
    return render(request, "entry.html", status=422,
                  **await _context(request, viewer, ns, "ledger"), **view, notice=None,
                  error=error)


@router.get("/ns/{ns}/verify")
async def verify(request: Request, ns: NsPath) -> JSONResponse:
    """Re-hash every entry and walk the chain; with size and root, against that head."""
    viewer, namespace = await api_namespace(request, ns, "read")
    size, root = request.query_params.get("size"), request.query_params.get("root")
    started = time.perf_counter()
    if size is not None and root is not None:
        if not size.isdigit() or len(root) != 64:
            raise InvalidRequest("size must be a whole number and root 64 hex digits")
        result = await run_in_threadpool(namespace.verify, int(size), root)
    else:
        result = await run_in_threadpool(namespace.verify)
    return JSONResponse({**result.model_dump(), "seconds": time.perf_counter() - started},
                        headers={"Cache-Control": "no-store"})


@router.post("/ns/{ns}/erase")
async def erase(request: Request, ns: NsPath) -> Response:
    """Erase a subject: the first post shows what will happen; the confirmed one does it."""
    viewer, namespace, form = await form_post(request, ns, "write")
    context = await _context(request, viewer, ns, "ledger")
    subject, reason = form.get("subject", ""), form.get("reason", "").strip() or None
    try:
        body = ErasureRequest(subject=subject, reason=reason, actor=viewer.actor)
    except ValidationError as err:
        return render(request, "erase.html", status=422, **context, subject=subject,
                      reason=reason, rows=[], error=f"Subject: {_problem(err)}", done=None)
    index = _console(request).indexes[ns]
    await run_in_threadpool(index.update, namespace)
    rows = index.subject_rows(body.subject)
    if form.get("confirm") != "yes" or not rows:
        error = None if rows else ("Nothing readable is recorded about that subject (or it "
                                   "was erased already): there is nothing to erase.")
        return render(request, "erase.html", status=200 if rows else 404, **context,
                      subject=body.subject, reason=reason, rows=rows, error=error, done=None)
    try:
        receipt = await run_in_threadpool(
            lambda: namespace.erase(body.subject, reason=body.reason, actor=body.actor))
    except ApiError as err:
        return render(request, "erase.html", status=err.status, **context,
                      subject=body.subject, reason=reason, rows=rows, error=err.message,
                      done=None)
    await run_in_threadpool(index.update, namespace)
    return render(request, "erase.html", **context, subject=None, reason=reason, rows=rows,
                  error=None, done=receipt)


# -- the dashboard -------------------------------------------------------------------------
@router.get("/ns/{ns}/dashboard")
async def dashboard(request: Request, ns: NsPath) -> Response:
    viewer, namespace = await page_namespace(request, ns)
    index = _console(request).indexes[ns]
    await run_in_threadpool(index.update, namespace)
    stats = await run_in_threadpool(namespace.stats)
    suspects = (await run_in_threadpool(namespace.suspects))[:20]
    reviews = queues_of(request.app)[ns].reviews()
    corrections = [r.at_ns for r in index.rows if r.kind == "example" and r.source != "fit"]
    revocations = sum(r.kind == "revocation" for r in index.rows)
    erasures = sum(r.kind == "erasure" for r in index.rows)
    right = sum(r.right for r in reviews)
    classes = index.class_counts()
    return render(
        request, "dashboard.html", **await _context(request, viewer, ns, "dashboard"),
        stats=stats, suspects=suspects, reviews=len(reviews), right=right,
        accepted=sum(r.accepted for r in reviews),
        accuracy=right / len(reviews) if reviews else None,
        corrections=len(corrections), revocations=revocations, erasures=erasures,
        corrections_chart=plots.counts_over_time(corrections, "corrections"),
        accuracy_chart=plots.share_over_time([(r.at_ns, r.right) for r in reviews],
                                             "reviewed predictions"),
        class_chart=plots.class_bars(classes), classes=len(classes),
    )
