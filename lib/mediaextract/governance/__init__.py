"""Governance: a legal removal reaches every copy at once, nothing outlives its date.

    rules       pure: identifiers, what matches, reconcile's reasons, expiry, access, leftovers
    inventory   the registry of each root, the configured roots, discovery of what is under one
    matching    Spark: which rows a request selects, through joins (no identifier in a plan)
    purge       remove files from every copy (legal requests), fail closed, audited
    expire      delete data sets past their date, with their exports
    reconcile   remove what the wiki undeleted, hard-deleted or suppressed since (through purge)
    access      find what others could read
Locks (mediaextract.locks): purge and expire hold every root exclusively; extract's batch commits,
export and snapshot writes hold a root shared; reconcile and dry runs read under a shared hold.
"""
