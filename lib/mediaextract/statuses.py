"""Row statuses: one word each, a row has exactly one (see the README's output contract)."""

OK = "ok"
INVALID_NAME = "invalid_name"
DUPLICATE = "duplicate"
SAMPLED_OUT = "sampled_out"
NOT_IN_FILEARCHIVE = "not_in_filearchive"
SUPPRESSED = "suppressed"
NO_STORAGE_KEY = "no_storage_key"
NOT_IN_STORAGE = "not_in_storage"
CHECKSUM_MISMATCH = "checksum_mismatch"
TOO_LARGE = "too_large"
FETCH_FAILED = "fetch_failed"
# A legal request removed the file: only the row's list and line stay (counts still add up).
REMOVED = "removed"

# A row that passed the catalog and waits to be fetched. Never written to `items`:
# `plan` counts these as "found", `extract` turns each into one of the final statuses.
PENDING = "pending"

FINAL_STATUSES = (
    OK, INVALID_NAME, DUPLICATE, SAMPLED_OUT, NOT_IN_FILEARCHIVE, SUPPRESSED,
    NO_STORAGE_KEY, NOT_IN_STORAGE, CHECKSUM_MISMATCH, TOO_LARGE, FETCH_FAILED, REMOVED,
)
# Statuses decided after the catalog, by fetching: their sum is what plan calls "found".
FETCH_STATUSES = (OK, NOT_IN_STORAGE, CHECKSUM_MISMATCH, TOO_LARGE, FETCH_FAILED)
