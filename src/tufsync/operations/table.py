"""The handler of each task kind: the table the task runner is started with."""

from __future__ import annotations

from types import MappingProxyType

from tufsync.operations.bootstrap import BootstrapHandler
from tufsync.operations.delegated_rotation import DelegatedRotationHandler
from tufsync.operations.online import ForceUpdateHandler
from tufsync.operations.recovery import RecoveryHandler
from tufsync.operations.renewal import RenewOfflineHandler
from tufsync.operations.root_rotation import RootRotationHandler
from tufsync.operations.settings import UpdateSettingsHandler
from tufsync.operations.signing import CancelSigningHandler, FinalizeSigningHandler
from tufsync.operations.targets_batch import TargetsBatchHandler
from tufsync.tasks.contract import Handler
from tufsync.tasks.kinds import TaskName

_batch = TargetsBatchHandler()

_TABLE: dict[str, Handler] = {
    TaskName.RECOVERY: RecoveryHandler(),
    TaskName.ROOT_ROTATION: RootRotationHandler(),
    TaskName.DELEGATED_ROTATION: DelegatedRotationHandler(),
    TaskName.FINALIZE_SIGNING: FinalizeSigningHandler(),
    TaskName.CANCEL_SIGNING: CancelSigningHandler(),
    TaskName.FORCE_UPDATE: ForceUpdateHandler(),
    TaskName.RENEW_OFFLINE: RenewOfflineHandler(),
    TaskName.UPDATE_SETTINGS: UpdateSettingsHandler(),
    TaskName.BOOTSTRAP: BootstrapHandler(),
    TaskName.PUBLISH: _batch,
    TaskName.PUBLISH_LEGACY: _batch,
    TaskName.REMOVE: _batch,
}
HANDLERS: MappingProxyType[str, Handler] = MappingProxyType(_TABLE)
