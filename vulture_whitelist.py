# ruff: noqa
"""Names vulture reports unused that are used: `vulture src/ vulture_whitelist.py` prints
nothing. Each group says who uses them. Only names are listed (vulture matches names,
not places), so code that moves keeps its entry."""

# FastAPI routes: registered by their @router / @app decorators, called by the framework.
signup
login
whoami
list_items
health
public_file
update_app
delete_app_route
delete_artifact
delete_version
create_token
list_tokens
delete_token
delete_from_tuf
audit_trail
bootstrap_status
bootstrap_recovery
get_config
put_config
get_expiry
get_status
trusted_targets
trusted_delegated
force_online_update
list_online_keys
delete_online_key
rotate_root
pending_signing
post_signature
cancel_signing
rotate_delegated
get_task

# FastAPI exception handlers: registered by @app.exception_handler in install_error_handlers.
_api_error
_registry
_out_of_scope
_invalid_name
_validation
_http
_not_bootstrapped
_role_not_found
_tuf_input
_storage
_busy
_unexpected

# Uvicorn: the app factory named by string in `tufsync serve --workers`, the
# server hook the worker overrides, and the transport method asyncio's streams call.
create_app_from_env
_.capture_signals
_.writelines

# Pydantic models and settings: fields serialised into answers, model configuration,
# and @field_validator methods pydantic calls.
model_config
days_left
last_update
pending_drafts
bootstrap_lock
redis_locks
terminating
root_expiration
root_num_keys
timestamp_expiration
timestamp_num_keys
timestamp_threshold
snapshot_expiration
snapshot_num_keys
snapshot_threshold
targets_expiration
targets_num_keys
targets_threshold
_._json_list
_._rate_limit
_._signer_uris_bound_to_one_tenant
_._known_level
_._networks

# Typer commands: registered by @app.command, called from the command line.
keys_new
keys_import_hsm
ceremony
worker
db_upgrade
drafts_cancel
online_new
online_list
online_delete

# Alembic migrations: module attributes and functions Alembic reads.
revision
down_revision
branch_labels
depends_on
downgrade

# SQLAlchemy: the relationship Version.artifacts names in back_populates.
version_row

# Attributes set on library objects, which read them: logging.Logger.disabled,
# taskiq's AsyncBroker.is_worker_process.
_.disabled
_.is_worker_process

# Read by the test suite: the Transactions engine in use (test_transactions), waiting
# for the in-process queue (test_refresh, test_scans, test_claims_sweep), the key
# spaces the service scans (test_tenant_keys), a tenant's key folder (test_key_reasons),
# and dropping an app's audit trail (test_audit_db).
_.synchronous
_.wait_idle
SYSTEM_PREFIX
SCANNED_PREFIXES
_.tenant_dir
forget_app

# httptools parser callbacks of the request-head meter (api/headlimit.py): the parser
# calls them by name.
on_message_begin
on_headers_complete
on_message_complete
on_chunk_header
on_body
on_chunk_complete
