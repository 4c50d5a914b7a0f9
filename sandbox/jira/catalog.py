"""The fake Jira's fixed catalogues and their JSON: statuses and status categories, the
workflow's transitions, resolutions, priorities, issue types and the one project.

Shapes follow Jira Cloud's REST v2 (``status.statusCategory`` as in the shared fixture
``real/issue_get_v2.cloud-derived.json``). Every transition is global: from any status to any
other (``FakeJira.remove_transitions_to`` takes some away).
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.jira.model import API, JiraConfig, JsonDict


@dataclass(frozen=True)
class Category:
    id: int
    key: str
    color: str
    name: str


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: Category
    description: str
    icon: str


@dataclass(frozen=True)
class TransitionDef:
    id: str
    name: str
    to: str  # status name


NEW = Category(2, "new", "blue-gray", "To Do")
INDETERMINATE = Category(4, "indeterminate", "yellow", "In Progress")
DONE = Category(3, "done", "green", "Done")

STATUSES: dict[str, Status] = {
    s.name: s
    for s in (
        Status("10000", "To Do", NEW, "", "open.png"),
        Status("3", "In Progress", INDETERMINATE,
               "This issue is being actively worked on at the moment by the assignee.",
               "inprogress.png"),
        Status("10001", "Done", DONE, "", "closed.png"),
        Status("10002", "Won't Do", DONE, "This issue won't be actioned.", "closed.png"),
    )
}  # fmt: skip
INITIAL_STATUS = "To Do"
TRANSITIONS: tuple[TransitionDef, ...] = (
    TransitionDef("11", "Reopen", "To Do"),
    TransitionDef("21", "Start progress", "In Progress"),
    TransitionDef("31", "Done", "Done"),
    TransitionDef("41", "Won't do", "Won't Do"),
)
RESOLUTIONS: dict[str, tuple[str, str]] = {  # done-category status -> (resolution id, name)
    "Done": ("10000", "Done"),
    "Won't Do": ("10001", "Won't Do"),
}
RESOLUTION_TEXT = {
    "Done": "Work has been completed on this issue.",
    "Won't Do": "This issue won't be actioned.",
}
PRIORITIES: dict[str, str] = {  # name -> id, highest first
    "Highest": "1",
    "High": "2",
    "Medium": "3",
    "Low": "4",
    "Lowest": "5",
}
DEFAULT_PRIORITY = "Medium"
ISSUE_TYPES: dict[str, tuple[str, str, int]] = {  # name -> (id, description, hierarchyLevel)
    "Task": ("10001", "A small, distinct piece of work.", 0),
    "Bug": ("10004", "A problem or error.", 0),
    "Story": ("10002", "Functionality or a feature expressed as a user goal.", 0),
    "Epic": ("10000", "A collection of related bugs, stories, and tasks.", 1),
}


def status_by_id_or_name(value: str) -> Status | None:
    for status in STATUSES.values():
        if status.id == value or status.name.lower() == value.lower():
            return status
    return None


def priority_name(value: str) -> str | None:
    for name, pid in PRIORITIES.items():
        if pid == value or name.lower() == value.lower():
            return name
    return None


def issue_type_name(value: str) -> str | None:
    for name, (tid, _, _) in ISSUE_TYPES.items():
        if tid == value or name.lower() == value.lower():
            return name
    return None


def category_of(status_name: str) -> Category:
    return STATUSES[status_name].category


# --- JSON -------------------------------------------------------------------------------------


def category_json(base: str, category: Category) -> JsonDict:
    return {
        "self": f"{base}{API}/statuscategory/{category.id}",
        "id": category.id,
        "key": category.key,
        "colorName": category.color,
        "name": category.name,
    }


def status_json(base: str, name: str) -> JsonDict:
    status = STATUSES[name]
    return {
        "self": f"{base}{API}/status/{status.id}",
        "description": status.description,
        "iconUrl": f"{base}/images/icons/statuses/{status.icon}",
        "name": status.name,
        "id": status.id,
        "statusCategory": category_json(base, status.category),
    }


def priority_json(base: str, name: str) -> JsonDict:
    pid = PRIORITIES[name]
    return {
        "self": f"{base}{API}/priority/{pid}",
        "iconUrl": f"{base}/images/icons/priorities/{name.lower()}.svg",
        "name": name,
        "id": pid,
    }


def issuetype_json(base: str, name: str) -> JsonDict:
    tid, description, level = ISSUE_TYPES[name]
    return {
        "self": f"{base}{API}/issuetype/{tid}",
        "id": tid,
        "description": description,
        "iconUrl": f"{base}/secure/viewavatar?size=medium&avatarId={tid}&avatarType=issuetype",
        "name": name,
        "subtask": False,
        "avatarId": int(tid),
        "hierarchyLevel": level,
    }


def project_json(base: str, cfg: JiraConfig, *, issue_types: bool = False) -> JsonDict:
    project: JsonDict = {
        "self": f"{base}{API}/project/{cfg.project_id}",
        "id": cfg.project_id,
        "key": cfg.project_key,
        "name": cfg.project_name,
        "projectTypeKey": "software",
        "simplified": False,
        "avatarUrls": {
            f"{n}x{n}": f"{base}/secure/projectavatar?size={n}&pid={cfg.project_id}"
            for n in (48, 24, 16, 32)
        },
    }
    if issue_types:
        project["issueTypes"] = [issuetype_json(base, name) for name in ISSUE_TYPES]
    return project


def resolution_json(base: str, name: str) -> JsonDict:
    rid, _ = RESOLUTIONS[name]
    return {
        "self": f"{base}{API}/resolution/{rid}",
        "id": rid,
        "description": RESOLUTION_TEXT[name],
        "name": name,
    }


def transition_json(base: str, transition: TransitionDef, *, with_fields: bool) -> JsonDict:
    out: JsonDict = {
        "id": transition.id,
        "name": transition.name,
        "to": status_json(base, transition.to),
        "hasScreen": False,
        "isGlobal": True,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }
    if with_fields:
        out["fields"] = {}
    return out
