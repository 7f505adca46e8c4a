"""Events flowing out of the registry: the process-wide feed of committed
events and the watch streams it fans out to (see feed.py)."""
