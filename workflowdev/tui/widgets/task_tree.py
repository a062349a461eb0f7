"""The task runs of one execution as a tree that grows and changes in place while it runs.

The API gives a flat list of task runs (one per attempt), each pointing at the run of the
container it ran in (`parentId`) and carrying its loop index (`iteration`). The operator thinks
in tasks, not runs, so runs are grouped: every attempt of one task is one node showing the
latest attempt (earlier attempts are its first children), and the runs of one `flow.foreach`
iteration sit under an `[i]` node. A task is identified by its path — the tasks and iterations
above it — rather than by its parent run id, so when a container runs again (a retry) its
children from both attempts still land on the same nodes.

Updates never rebuild the tree: a run that is already known relabels its node; a new one adds a
node where it belongs, so the cursor and what is expanded stay as the operator left them.

Before a task runs, the tree can already show it (`plan`, from the flow's declared tasks): its
node is there from the start, dim, and the task's first run takes that node over.

The cursor follows the work: when a task starts, the cursor moves to it — but only while it is
on the task it was last brought to or on one still running. An operator who moved it to read a
finished task keeps it there; moving it back onto a running task resumes following.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from workflowdev.tui.flow_outline import Planned
from workflowdev.tui.formatting import elapsed_ms
from workflowdev.tui.formatting import format_duration
from workflowdev.tui.formatting import status_glyph

Json = dict[str, Any]
FOREACH = "flow.foreach"
FAILED_STATUSES = frozenset({"FAILED", "TIMED_OUT"})
LIVE_STATUSES = frozenset({"QUEUED", "RUNNING", "WAITING"})
ENDED_STATUSES = frozenset({"SUCCESS", "FAILED", "SKIPPED", "CANCELLED", "TIMED_OUT"})
"""A run in one of these is final: a retry records a new run (a new attempt) instead."""


@dataclass(frozen=True)
class NodeRef:
    """What a tree node stands for: a task (its latest attempt), one earlier attempt, or an iteration."""

    kind: str
    """`task`, `attempt` or `iteration`."""
    key: str
    """The task's path for `task` and `iteration` nodes, the run id for `attempt` nodes."""


@dataclass
class TaskGroup:
    """Every attempt of one task at one place in the flow, and the node that shows them."""

    key: str
    node: TreeNode[NodeRef]
    runs: list[Json] = field(default_factory=list)
    attempt_nodes: dict[str, TreeNode[NodeRef]] = field(default_factory=dict)

    @property
    def latest(self) -> Json:
        return self.runs[-1]


class TaskTree(Tree[NodeRef]):
    """A `Tree` of task runs fed by `load` (the execution's runs) and `apply` (one `task.updated`)."""

    DEFAULT_CSS = """
    TaskTree { padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("tasks", id=id)
        self.show_root = False
        self.auto_expand = False
        self.runs: dict[str, Json] = {}
        self.groups: dict[str, TaskGroup] = {}
        self._group_of_run: dict[str, str] = {}
        self._iterations: dict[str, TreeNode[NodeRef]] = {}
        self._orphans: dict[str, list[Json]] = {}
        """Runs whose parent run is not known yet, by parent run id: placed when it arrives."""
        self.planned: dict[str, tuple[Planned, TreeNode[NodeRef]]] = {}
        """Declared tasks that have not run yet, by path, with the node waiting for them."""
        self.ended = False
        """The execution is over: a planned task that never ran now reads `not run`."""
        self._followed: TaskGroup | None = None
        """The task the cursor was last brought to because it started."""
        self.now: datetime | None = None
        """The moment durations of running tasks are measured to; the screen sets it from app.clock."""

    # --- feeding --------------------------------------------------------------------------

    def load(self, runs: Iterable[Json]) -> None:
        """Apply every run of a fresh `GET /executions/{id}`: known runs update, new ones add."""
        for run in sorted(runs, key=lambda r: (r.get("startedAt") or "", r.get("attempt") or 0)):
            self.apply(run, follow=False)

    def apply(self, run: Json, *, follow: bool = True) -> TaskGroup | None:
        """One run as it is now (a `task.updated` event's data); returns its group once placed.

        `follow`: a run new to the tree, or one that starts running again, takes the cursor
        along if it is following (a task that ended before its first event still counts).
        """
        run_id = run["id"]
        known = self.runs.get(run_id)
        if known is not None:
            if known.get("status") in ENDED_STATUSES and run.get("status") not in ENDED_STATUSES:
                return self.groups[self._group_of_run[run_id]]  # older news: an ended run never runs again
            was_live, live = known.get("status") in LIVE_STATUSES, run.get("status") in LIVE_STATUSES
            started = live and not was_live
            known.update(run)
            group = self.groups[self._group_of_run[run_id]]
            self._relabel(group, known)
            if was_live and not live and self.cursor_node is group.node:
                self._followed = group  # the operator watched it end: what starts next is theirs to see
        else:
            parent_id = run.get("parentId")
            if parent_id and parent_id not in self.runs:
                self._orphans.setdefault(parent_id, []).append(dict(run))
                return None
            started = True
            group = self._place(dict(run))
            for orphan in self._orphans.pop(run_id, []):
                self.apply(orphan, follow=follow)
        if follow and started and self._following():
            self.follow(group)
        return group

    def plan(self, planned: Iterable[Planned]) -> None:
        """Show the declared tasks that have not run, in the flow's order, beside those that have."""
        self._plan_under(self.root, planned)

    def set_ended(self, ended: bool) -> None:
        """The execution ended (or runs again after a retry): relabel what never ran."""
        if ended != self.ended:
            self.ended = ended
            for task, node in self.planned.values():
                node.set_label(self._planned_label(task))

    def follow(self, group: TaskGroup) -> None:
        """Bring the cursor to `group` as the task being followed."""
        self._followed = group
        self.select_group(group)

    def follow_latest(self) -> bool:
        """Follow the task that started last among those still running; False when none runs."""
        live = [group for group in self.groups.values() if group.latest.get("status") in LIVE_STATUSES]
        if not live:
            return False
        self.follow(max(live, key=lambda group: str(group.latest.get("startedAt") or "")))
        return True

    def refresh_running(self, now: datetime) -> None:
        """Re-render the durations of runs still going (a local once-per-second tick)."""
        self.now = now
        for group in self.groups.values():
            if group.latest.get("status") in LIVE_STATUSES:
                group.node.set_label(self._task_label(group))

    # --- reading --------------------------------------------------------------------------

    def planned_of(self, ref: NodeRef | None) -> Planned | None:
        """The declared task a node waits for, while it has not run."""
        entry = self.planned.get(ref.key) if ref is not None and ref.kind == "task" else None
        return entry[0] if entry else None

    def run_of(self, ref: NodeRef | None) -> Json | None:
        """The run a node stands for: a task's latest attempt, or that earlier attempt."""
        if ref is None:
            return None
        if ref.kind == "task":
            group = self.groups.get(ref.key)
            return group.latest if group else None
        if ref.kind == "attempt":
            return self.runs.get(ref.key)
        return None

    def first_failed(self) -> TaskGroup | None:
        """The first failed task in the tree's order, the innermost one when containers failed with it."""
        for node in self._walk(self.root):
            group = self._failed_group(node)
            if group is not None:
                return self._innermost_failed(group)
        return None

    def select_group(self, group: TaskGroup) -> None:
        """Open the way to `group` and put the cursor on it (after the tree has laid its lines out)."""
        parent = group.node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.call_after_refresh(self.move_cursor, group.node)

    # --- building ---------------------------------------------------------------------------

    def _place(self, run: Json) -> TaskGroup:
        parent_key, parent_node = self._parent_of(run)
        key = f"{parent_key}/{run.get('taskName')}"
        group = self.groups.get(key)
        self.runs[run["id"]] = run
        self._group_of_run[run["id"]] = key
        if group is None:
            waiting = self.planned.pop(key, None)
            if waiting is not None:
                node = waiting[1]
            else:
                node = parent_node.add("", NodeRef("task", key), expand=True, allow_expand=False)
                parent_node.allow_expand = True
            group = self.groups[key] = TaskGroup(key, node)
        else:
            self._push_down(group)
        group.runs.append(run)
        group.runs.sort(key=lambda r: r.get("attempt") or 0)
        self._relabel(group, run)
        return group

    def _plan_under(self, parent: TreeNode[NodeRef], planned: Iterable[Planned]) -> None:
        """Add a node for each declared task not seen yet, after the sibling declared before it."""
        previous: TreeNode[NodeRef] | None = None
        for task in planned:
            group = self.groups.get(task.path)
            known = group.node if group is not None else self.planned.get(task.path, (None, None))[1]
            if known is None:
                label, ref = self._planned_label(task), NodeRef("task", task.path)
                if previous is not None:
                    known = parent.add(label, ref, after=previous, expand=True, allow_expand=False)
                else:
                    known = parent.add(label, ref, before=0 if parent.children else None, expand=True, allow_expand=False)
                self.planned[task.path] = (task, known)
                parent.allow_expand = True
            if task.children and task.type != FOREACH:  # iterations show up as they start
                self._plan_under(known, task.children)
            previous = known

    def _planned_label(self, task: Planned) -> Text:
        when = "not run" if self.ended else ("if a task fails" if task.section == "errors" else "")
        label = Text.assemble(("·", "dim"), " ", (task.name, "dim"), (f" {task.type}", "dim"))
        if when:
            label.append(f" {when}", style="dim italic")
        return label

    def _following(self) -> bool:
        """Whether the cursor is where following left it or on a task still running (or, before
        anything started, on the first line)."""
        cursor = self.cursor_node
        if self._followed is None:
            return cursor is None or self.cursor_line <= 0
        if cursor is self._followed.node:
            return True
        group = self.groups.get(cursor.data.key) if cursor is not None and cursor.data is not None else None
        return group is not None and group.latest.get("status") in LIVE_STATUSES

    def _parent_of(self, run: Json) -> tuple[str, TreeNode[NodeRef]]:
        """The path and node a run hangs under: the root, its container, or an `[i]` in a loop."""
        parent_id = run.get("parentId")
        if not parent_id:
            return "", self.root
        parent_group = self.groups[self._group_of_run[parent_id]]
        parent_run = self.runs[parent_id]
        iteration = run.get("iteration")
        looped = iteration is not None and (
            parent_run.get("taskType") == FOREACH or parent_run.get("iteration") != iteration
        )
        if not looped:
            return parent_group.key, parent_group.node
        key = f"{parent_group.key}[{iteration}]"
        node = self._iterations.get(key)
        if node is None:
            node = parent_group.node.add(Text(f"[{iteration}]", style="bold"), NodeRef("iteration", key), expand=True)
            self._iterations[key] = node
        return key, node

    def _push_down(self, group: TaskGroup) -> None:
        """The attempt being replaced becomes a child of its task, before the task's own children."""
        previous = group.latest
        before = len(group.attempt_nodes)
        children = group.node.children
        position = children[before] if before < len(children) else None
        node = group.node.add("", NodeRef("attempt", previous["id"]), before=position, allow_expand=False)
        group.attempt_nodes[previous["id"]] = node
        group.node.allow_expand = True
        node.set_label(self._attempt_label(previous))

    def _relabel(self, group: TaskGroup, run: Json) -> None:
        if run is group.latest:
            group.node.set_label(self._task_label(group))
        elif run["id"] in group.attempt_nodes:
            group.attempt_nodes[run["id"]].set_label(self._attempt_label(run))

    def _task_label(self, group: TaskGroup) -> Text:
        run = group.latest
        label = Text.assemble(status_glyph(run.get("status")), " ", str(run.get("taskName")))
        label.append(f" {run.get('taskType', '')}", style="dim")
        label.append(f" {self._duration(run)}")
        if (run.get("attempt") or 1) > 1:
            label.append(f" attempt {run['attempt']}", style="yellow")
        return label

    def _attempt_label(self, run: Json) -> Text:
        label = Text.assemble(status_glyph(run.get("status")), f" attempt {run.get('attempt')}")
        label.append(f" {run.get('status', '')} {self._duration(run)}", style="dim")
        return label

    def _duration(self, run: Json) -> str:
        return format_duration(elapsed_ms(run, self.now) if self.now else run.get("durationMs"))

    # --- walking ----------------------------------------------------------------------------

    def _walk(self, node: TreeNode[NodeRef]) -> Iterator[TreeNode[NodeRef]]:
        for child in node.children:
            yield child
            yield from self._walk(child)

    def _failed_group(self, node: TreeNode[NodeRef]) -> TaskGroup | None:
        ref = node.data
        if ref is None or ref.kind != "task":
            return None
        group = self.groups.get(ref.key)
        return group if group is not None and group.latest.get("status") in FAILED_STATUSES else None

    def _innermost_failed(self, group: TaskGroup) -> TaskGroup:
        for node in self._walk(group.node):
            inner = self._failed_group(node)
            if inner is not None:
                return self._innermost_failed(inner)
        return group
