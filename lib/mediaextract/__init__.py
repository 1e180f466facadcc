"""mediaextract: lists of deleted MediaWiki file names -> a governed data set."""

__version__ = "0.1.0"
