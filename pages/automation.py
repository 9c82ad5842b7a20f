"""Automation: every Check for updates as a task with its nested jobs, updating live while it runs.

Tasks are paged in the database (a year of daily syncs is hundreds of tasks and ~90,000 jobs), and a task's jobs
are read only while its expander is open."""

import math

import pandas as pd
import streamlit as st

from core.sync import schedule
from core.tasks import jobs
from ui.resources import services

svc = services()
TASKS_PER_PAGE = 50

st.title("Automation")
st.caption("Each Check for updates is a task with one job per partner. Running tasks update live.")
st.caption(schedule.policy(svc.store).describe())

_TASK_COLUMNS = {
    "id": st.column_config.NumberColumn(
        "#", format="#%d", help="The task number, as in the Check for updates message and the details below"
    ),
    "status": st.column_config.TextColumn("Status"),
    "target": st.column_config.TextColumn("Target"),
    "actor": st.column_config.TextColumn("Actor"),
    "task": st.column_config.TextColumn("Task"),
    "trigger": st.column_config.TextColumn("Trigger"),
    "created_at": st.column_config.DatetimeColumn("Created at", format="YYYY-MM-DD HH:mm:ss z"),
    "updated_at": st.column_config.DatetimeColumn("Updated at", format="YYYY-MM-DD HH:mm:ss z"),
    "progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
    "added": st.column_config.NumberColumn("Added"),
    "updated": st.column_config.NumberColumn("Updated"),
    "removed": st.column_config.NumberColumn("Removed"),
    "error": st.column_config.TextColumn("Error", width="large", help="In full in the task's details below"),
}


_JOB_COLUMNS = {
    "status": _TASK_COLUMNS["status"],
    "job": st.column_config.TextColumn("Job"),
    **{name: _TASK_COLUMNS[name] for name in ("target", "progress", "added", "updated", "removed", "error")},
    "detail": st.column_config.TextColumn("Detail"),
}


def _grid(rows: pd.DataFrame, columns: dict, key: str | None = None) -> None:
    """Tasks or jobs with their progress, in `columns`' order."""
    st.dataframe(
        _with_progress(rows),
        hide_index=True,
        width="stretch",
        key=key,
        column_order=list(columns),
        column_config=columns,
    )


def _with_progress(df):
    finished = df["status"].isin([jobs.COMPLETED])
    ratio = (df["progress_done"] / df["progress_total"].where(df["progress_total"] > 0)).fillna(0.0)
    df["progress"] = ratio.where(~finished, 1.0).clip(0.0, 1.0)
    return df


def _poll_interval() -> str:
    """Fast while something runs; slow otherwise, so a task started elsewhere still shows up."""
    st.session_state["pw_fast_poll"] = jobs.any_active(svc.store)
    return "1s" if st.session_state["pw_fast_poll"] else "5s"


def _reason(status: str, error: object) -> None:
    """A task's error in full (the grid cuts it off); the safeguard's halt is protective, not a failure."""
    if not isinstance(error, str) or not error:
        return
    (st.info if status == jobs.HALTED else st.error)(error)


def _task_page() -> tuple[int, pd.DataFrame]:
    """The page of tasks the pager shows (newest first; `TASKS_PER_PAGE` a page) and the number of pages."""
    pages = max(1, math.ceil(jobs.count_tasks(svc.store) / TASKS_PER_PAGE))
    if st.session_state.get("tasks_page", 1) > pages:  # fewer tasks than when the page was picked
        st.session_state["tasks_page"] = pages
    page = st.session_state.get("tasks_page", 1)
    return pages, jobs.list_tasks(svc.store, limit=TASKS_PER_PAGE, offset=(page - 1) * TASKS_PER_PAGE)


def _jobs(task_id: int) -> None:
    job_rows = jobs.list_jobs(svc.store, task_id)
    if job_rows.empty:
        st.caption("No jobs yet.")
        return
    _grid(job_rows, _JOB_COLUMNS)


@st.fragment(run_every=_poll_interval())
def task_list() -> None:
    if jobs.any_active(svc.store) != st.session_state.get("pw_fast_poll"):
        st.rerun()  # a task started or ended: rerun the page to switch the polling speed
    pages, tasks = _task_page()
    if tasks.empty:
        st.info("No tasks yet. Run **Check for updates** on the Partners page.")
        return
    _grid(tasks, _TASK_COLUMNS, key="tasks_table")
    if pages > 1:
        st.pagination(pages, key="tasks_page")
    newest = int(tasks["id"].max())
    for task in tasks.head(5).itertuples():
        label = f"#{task.id} · {task.task} · {task.target} · {task.status}"
        # open at first for the newest task and running ones; a task's jobs are read only while it is open
        opened = task.status in jobs.ACTIVE or (task.id == newest and st.session_state.get("tasks_page", 1) == 1)
        expander = st.expander(label, expanded=opened, key=f"task_jobs_{task.id}", on_change="rerun")
        with expander:
            _reason(task.status, task.error)
            if expander.open:
                _jobs(int(task.id))


task_list()
