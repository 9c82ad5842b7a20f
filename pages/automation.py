"""Automation: every Check for updates as a task with its nested jobs, updating live while it runs."""

import streamlit as st

from core.sync import schedule
from core.tasks import jobs
from ui.resources import services

svc = services()

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


@st.fragment(run_every=_poll_interval())
def task_list() -> None:
    if jobs.any_active(svc.store) != st.session_state.get("pw_fast_poll"):
        st.rerun()  # a task started or ended: rerun the page to switch the polling speed
    tasks = jobs.list_tasks(svc.store, limit=50)
    if tasks.empty:
        st.info("No tasks yet. Run **Check for updates** on the Partners page.")
        return
    st.dataframe(
        _with_progress(tasks),
        hide_index=True,
        width="stretch",
        key="tasks_table",
        column_order=list(_TASK_COLUMNS),
        column_config=_TASK_COLUMNS,
    )
    for task in tasks.head(5).itertuples():
        label = f"#{task.id} · {task.task} · {task.target} · {task.status}"
        with st.expander(label, expanded=task.status in jobs.ACTIVE):
            _reason(task.status, task.error)
            job_rows = jobs.list_jobs(svc.store, int(task.id))
            if job_rows.empty:
                st.caption("No jobs yet.")
                continue
            st.dataframe(
                _with_progress(job_rows),
                hide_index=True,
                width="stretch",
                column_order=["status", "job", "target", "progress", "added", "updated", "removed", "error", "detail"],
                column_config={
                    **_TASK_COLUMNS,
                    "job": st.column_config.TextColumn("Job"),
                    "detail": st.column_config.TextColumn("Detail"),
                },
            )


task_list()
