"""The use cases that change a repository: what a request asks, how it is accepted
as a task, and the task that does the work. Routes parse, authorize, call an
operation's ``accept`` and answer; the runner runs the handlers of
:mod:`tufsync.operations.table`. Nothing here knows HTTP routing or the whole service."""
