"""Domain errors. Each message says what went wrong and what to do about it.

Messages are module constants so that the tests, the CLI and the pages share one wording.
"""


class GovernanceError(Exception):
    """Base of every error a user can act on. Pages show its message; the CLI prints it after `error:`."""


class WorkspaceError(GovernanceError):
    """The workspace file cannot be opened as asked."""


class WorkspaceLockedError(WorkspaceError):
    pass


class WorkspaceCorruptError(WorkspaceError):
    pass


class WorkspaceUnwritableError(WorkspaceError):
    pass


class WorkspaceTooNewError(WorkspaceError):
    pass


class WorkspaceUnreachableError(WorkspaceError):
    """The database server of a shared workspace does not answer."""


class WorkspaceNotEmptyError(GovernanceError):
    pass


class InvalidInputError(GovernanceError):
    pass


class ServerInternalError(GovernanceError):
    """A Quorum server failed unexpectedly; its log has the details under the reference in the message."""


WORKSPACE_LOCKED = (
    "workspace {path} is open in another process (a command or an app started with `streamlit run`): wait for it "
    "to finish or stop it; to work beside a running app, start it with `python -m governance serve` and run "
    "commands through it with --server"
)
WORKSPACE_CORRUPT = (
    "{path} is not a readable Quorum workspace (not a DuckDB file, or damaged): "
    "it was left untouched; point --db or QUORUM_DB at another file"
)
WORKSPACE_UNWRITABLE = (
    "cannot create or write the workspace at {path} ({reason}): choose a writable path with --db or QUORUM_DB"
)
WORKSPACE_TOO_NEW = (
    "workspace {path} has schema version {found}, newer than this Quorum understands ({known}): "
    "upgrade Quorum before opening it"
)
WORKSPACE_NOT_EMPTY = (
    "workspace {path} already holds models: the demo is only built into an empty workspace; "
    "use a new --db path"
)
ROWS_OUT_OF_RANGE = "--rows must be between {low:,} and {high:,}, got {rows:,}"
