"""The names of a data set's and an export's files on disk (no Spark), declared once.

dataset.py (which reads and writes them with Spark), export.py and governance (which must tell a
data set or an export when it finds one, without Spark) all take them from here.
"""

ITEMS = "items"                       # the Parquet table, partitioned by list
BLOBS = "blobs"                       # originals over output.blob_bytes, in chunks (rows.BLOB)
METADATA = "_metadata.json"           # created, expires, catalog, removals
REPORT_JSON, REPORT_TEXT, REPORT_HTML = "report.json", "report.txt", "report.html"
SUCCESS = "_SUCCESS"                  # the data set is complete (no extract at work in it)
WORK = "_work"                        # plans and batches of runs in progress
COMMITTED = "_COMMITTED"              # a batch of a run in progress is whole
MANIFEST = "manifest.csv"             # an export's list of files (what a purge reads)
# Beside the data sets of a root, not in one: `plan` writes <root>/_plans/<name>/ (report.json,
# report.txt; counts only), so a plan never makes a directory look like a data set, and expire
# and purge never mistake one for part of a data set.
PLANS = "_plans"
