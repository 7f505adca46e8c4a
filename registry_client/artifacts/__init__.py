"""Moving files of registry-held versions: manifests, uploads, downloads.

``RegistryClient``'s artifact methods (``registry_client._artifacts``)
delegate here so that the client keeps to the one-method-per-RPC surface.
Every RPC still goes through ``RegistryClient._call``; what this package adds
is the file handling around it, with three promises:

* memory stays flat: files are hashed, sent and received in 1 MiB chunks;
* nothing wrong is left on disk: a download goes to a temporary file next to
  its destination and is renamed over it only once size and sha256 match the
  manifest; temporary files are removed on every failure;
* one failing transfer stops the others: parallel transfers share a
  ``CancelScope`` that cancels the in-flight calls.

``manifest`` reads local folders, ``upload`` and ``download`` move the files,
``_parallel`` runs transfers side by side. Private to the client: the public
API is ``RegistryClient``'s methods and ``registry_client.compute_manifest``.
"""
