"""Heartbeats of RDB storages: a beat that outlives an outage, and trials that never beat adopted."""

from __future__ import annotations

import optuna
from optuna.storages import RDBStorage

from pairsearch.storage.failures import is_storage_failure


class SteadyHeartbeatRDBStorage(RDBStorage):
    """An RDB storage whose heartbeat outlives a storage outage.

    Optuna's heartbeat thread ends at its first failed beat: a trial still training in a live
    worker would then look stale once the storage is back, and be failed and re-run by another.
    """

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as error:
            if not is_storage_failure(error):  # the worker's own next write says what failed, in one line
                raise
            # A missed beat: the thread tries again one heartbeat interval later.


def adopt_heartbeatless_trials(study: optuna.Study) -> None:
    """Give each RUNNING trial of ``study`` that has no heartbeat row a heartbeat now.

    A trial created just before the storage went away may never have beaten. Optuna never
    calls such a trial stale, so it would hold the budget forever. Adopted, it goes stale like
    any other unless its worker is alive and beating (a worker that beats after this takes
    the same row over).
    """
    import sqlalchemy

    storage = getattr(study._storage, "_backend", study._storage)  # load_study wraps it in a cache
    if not isinstance(storage, RDBStorage) or storage.get_heartbeat_interval() is None:
        return
    heartbeatless = sqlalchemy.text(
        "SELECT trials.trial_id FROM trials LEFT JOIN trial_heartbeats"
        " ON trial_heartbeats.trial_id = trials.trial_id"
        " WHERE trials.study_id = :study_id AND trials.state = 'RUNNING'"
        " AND trial_heartbeats.trial_id IS NULL"
    )
    with storage.engine.connect() as connection:
        trial_ids = connection.execute(heartbeatless, {"study_id": study._study_id}).scalars().all()
    for trial_id in trial_ids:
        storage.record_heartbeat(trial_id)
