"""MLflow plugins: our registry as MLflow's model registry store (``store``)
and artifact repository (``artifacts``).

MLflow finds them through the entry points in pyproject.toml, for the schemes
``modelregistry+grpc`` (plaintext) and ``modelregistry+grpcs`` (TLS)::

    mlflow.set_registry_uri("modelregistry+grpc://registry.internal:50051")

Token, TLS files and actor come from the same ``REGISTRY_*`` variables as the
``registry`` CLI. The plugins use only the public ``RegistryClient``. This
package is imported by MLflow, so importing it must not import MLflow's
heavier modules or open a connection: the store connects when MLflow builds it.
"""
